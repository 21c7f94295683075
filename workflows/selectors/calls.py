"""Reads of call attempts and their logs, scoped to the user's teams."""
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Sum
from django.http import Http404

from teams.selectors import access_check
from workflows.backends import backend_for
from workflows.models import Call, CallTally

LOG_PAGE_BYTES = 1024 * 1024  # what a log page shows at most; the download has the rest
MAX_LOG_OFFSET = 2 ** 40  # 1 TiB: past any real log, and within what a file seek or an S3 range takes
_DIGITS = re.compile(r"[0-9]{1,20}")
_TOKEN = re.compile(r"[A-Za-z0-9/+=_.:-]{1,512}")  # CloudWatch's forward tokens (f/<digits>/s)


def call_get_for_user(*, user, pk: int) -> Call:
    """Return a call attempt of one of the user's teams; 404 for outsiders."""
    call = Call.objects.filter(pk=pk).select_related(
        "run__team", "run__version__workflow", "run__project", "run__cleaned_up_by").first()
    if call is None:
        raise Http404("No such call.")
    access_check(user=user, team=call.run.team)
    return call


@dataclass
class CacheSummary:
    hits: int
    saved: timedelta  # the job time the calls they reused took


def run_cache_summary(*, run) -> CacheSummary:
    """Count the run's calls that reused earlier results and the job time that saved, from its tally."""
    found = CallTally.objects.filter(run=run).aggregate(hits=Sum("hits"), saved=Sum("saved"))
    return CacheSummary(hits=found["hits"] or 0, saved=timedelta(seconds=round(found["saved"] or 0, 3)))


def call_log_streams(*, call: Call) -> list[str]:
    """Return the log streams a call's backend keeps: stdout and stderr, and AWS Batch's job log."""
    return list(backend_for(call.backend).log_streams)


@dataclass
class LogChunk:
    text: str
    offset: int | str  # where the next read starts (AWS: an opaque CloudWatch token)
    more: bool  # there is more already written (the page stopped at LOG_PAGE_BYTES)


def offset_parse(value: str | None, *, tokens: bool = False) -> int | str:
    """Return a log cursor from a query parameter: a byte offset, or (tokens) a backend's opaque token.

    A ValueError says what is wrong: not a number, past MAX_LOG_OFFSET, or a token that no backend gives.
    """
    if not value:
        return 0
    if _DIGITS.fullmatch(value):
        offset = int(value)
        if offset > MAX_LOG_OFFSET:
            raise ValueError(f"offset {value[:30]} is out of range: at most {MAX_LOG_OFFSET:,} bytes")
        return offset
    if tokens and _TOKEN.fullmatch(value):
        return value
    raise ValueError(f"offset {value[:30]!r} is not a byte offset" + (" or a log token" if tokens else ""))


def call_log_read(*, call: Call, stream: str, offset: int | str = 0, limit: int = LOG_PAGE_BYTES,
                  whole_lines: bool = False) -> LogChunk:
    """Read a call's log from offset, up to about limit bytes; whole_lines keeps a partial last line for later."""
    if not call.backend_job_id:
        return LogChunk("", offset, False)  # not submitted yet: there is no log to ask for
    backend = backend_for(call.backend)
    parts: list[str] = []
    size, more = 0, False
    while True:
        text, offset_after = backend.read_log(call.backend_job_id, call.call_dir, stream, offset)
        offset = offset_after
        if not text:
            break
        parts.append(text)
        size += len(text)
        if size >= limit:
            more = True
            break
    text = "".join(parts)
    if whole_lines and not more and isinstance(offset, int) and text and not text.endswith("\n"):
        # Hold the partial last line back for the next read. A replacement character means the
        # bytes were not valid UTF-8, and their decoded length says nothing about their size.
        head, newline, rest = text.rpartition("\n")
        if "\ufffd" not in rest:
            text, offset = head + newline, offset - len(rest.encode())
    return LogChunk(text, offset, more)


def call_log_iter(*, call: Call, stream: str):
    """Yield a call's whole log a page at a time, for a download."""
    offset: int | str = 0
    while True:
        chunk = call_log_read(call=call, stream=stream, offset=offset)
        if chunk.text:
            yield chunk.text
        if not chunk.more:
            return
        offset = chunk.offset
