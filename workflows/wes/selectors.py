"""Reads for WES, scoped to the caller's teams: runs with their WES state, pages of runs and tasks.

A run's WES state is computed by the database (one CASE per run), so a page of runs and the
service's state counts are one query each, whatever the number of calls.
"""
import re
import uuid
from datetime import datetime, timezone

from django.core import signing
from django.db.models import Case, CharField, Count, Exists, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from workflows.models import Call, Run
from workflows.selectors import run_get_for_user, run_list
from workflows.services.cost import RECLAIM_FAILURE
from workflows.wes.errors import WesError

MAX_PAGE_SIZE = 1000  # a larger page_size gets this many
_TOKEN_SALT = "batchsite.wes.page"


def _state() -> Case:
    """Return the WES state of a run, from its status and, where that is not enough, its calls."""
    calls = Call.objects.filter(run=OuterRef("pk"))
    failed = calls.filter(status=Call.Status.FAILED)
    status = Run.Status
    return Case(
        When(status=status.SUBMITTED, then=Value("QUEUED")),
        When(status=status.ON_HOLD, then=Value("PAUSED")),
        # Running once a call has started on the backend; until then its first calls wait for slots or a host
        When(Q(status=status.RUNNING) & Exists(calls.filter(started__isnull=False)), then=Value("RUNNING")),
        When(status=status.RUNNING, then=Value("INITIALIZING")),
        When(status=status.ABORTING, then=Value("CANCELING")),
        When(status=status.ABORTED, then=Value("CANCELED")),
        When(status=status.SUCCEEDED, then=Value("COMPLETE")),
        # Failed: a call whose host was reclaimed more often than allowed, a task that exited non-zero,
        # or else the engine or the backend (an expression, a limit, a job that could not start)
        When(Q(status=status.FAILED) & Exists(failed.filter(failure__startswith=RECLAIM_FAILURE)),
             then=Value("PREEMPTED")),
        When(Q(status=status.FAILED) & Exists(failed.filter(return_code__isnull=False)),
             then=Value("EXECUTOR_ERROR")),
        When(status=status.FAILED, then=Value("SYSTEM_ERROR")),
        default=Value("UNKNOWN"), output_field=CharField(),
    )


def wes_runs(*, user) -> QuerySet[Run]:
    """Return the runs of the user's teams, each with its WES state (wes_state), newest first."""
    return run_list(user=user).annotate(wes_state=_state()).order_by("-submitted", "-pk")


def wes_run_get(*, user, run_id: str, write: bool = False) -> Run:
    """Return a run of the user's teams with its wes_state: 404 unknown, foreign or malformed; 403 not theirs."""
    try:
        pk = uuid.UUID(run_id)
    except ValueError:
        raise WesError(404, f"No run {run_id[:100]!r}: run ids are UUIDs") from None
    try:
        run = run_get_for_user(user=user, pk=pk, write=write)
    except Http404:
        raise WesError(404, f"No run {pk} in your teams") from None
    run.wes_state = Run.objects.filter(pk=pk).annotate(wes_state=_state()).values_list("wes_state", flat=True)[0]
    return run


def state_counts(*, user) -> dict[str, int]:
    """Count the runs of the user's teams per WES state."""
    rows = run_list(user=user).order_by().annotate(wes_state=_state()).values("wes_state").annotate(n=Count("pk"))
    return {row["wes_state"]: row["n"] for row in rows}


def page_token(kind: str, value) -> str:
    """Return an opaque token for the page after the item whose key is value."""
    return signing.dumps(value, salt=f"{_TOKEN_SALT}.{kind}", compress=True)


def _token_value(kind: str, token: str):
    try:
        return signing.loads(token, salt=f"{_TOKEN_SALT}.{kind}")
    except signing.BadSignature:
        raise WesError(400, "page_token is not a token this server gave: pass next_page_token from the previous "
                            "page as it came") from None


def run_page(*, user, page_size: int, token: str) -> tuple[list[Run], str]:
    """Return one page of the user's runs (newest first) and the token of the next page ("" at the end)."""
    runs = wes_runs(user=user)
    if token:
        when, pk = _token_value("runs", token)
        after = datetime.fromisoformat(when)
        runs = runs.filter(Q(submitted__lt=after) | Q(submitted=after, pk__lt=uuid.UUID(pk)))
    page = list(runs[:min(page_size, MAX_PAGE_SIZE) + 1])
    if len(page) <= min(page_size, MAX_PAGE_SIZE):
        return page, ""
    page = page[:-1]
    last = page[-1]
    return page, page_token("runs", [last.submitted.astimezone(timezone.utc).isoformat(), str(last.pk)])


def task_page(*, run: Run, page_size: int, token: str) -> tuple[list[Call], str]:
    """Return one page of the run's call attempts (in the order they were created) and the next page's token."""
    calls = Call.objects.filter(run=run).order_by("pk")
    if token:
        calls = calls.filter(pk__gt=int(_token_value(f"tasks.{run.pk}", token)))
    size = min(page_size, MAX_PAGE_SIZE)
    page = list(calls[:size + 1])
    if len(page) <= size:
        return page, ""
    page = page[:-1]
    return page, page_token(f"tasks.{run.pk}", page[-1].pk)


def task_get(*, run: Run, task_id: str) -> Call:
    """Return one call attempt of a run (the caller checked access to the run); 404 if it has no such task."""
    valid = re.fullmatch(r"[0-9]{1,18}", task_id)
    call = Call.objects.filter(run=run, pk=int(task_id)).first() if valid else None
    if call is None:
        raise WesError(404, f"Run {run.pk} has no task {task_id[:100]!r}")
    return call
