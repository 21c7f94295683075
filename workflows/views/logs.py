"""A call's logs: the page, its live tail (htmx polling with a cursor) and the download."""
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import render
from django.utils.text import slugify

from workflows import selectors
from workflows.backends import TransientBackendError
from workflows.models import Call

TAIL_BYTES = 256 * 1024  # at most this much per poll


def _call_and_stream(request, pk: int, stream: str):
    call = selectors.call_get_for_user(user=request.user, pk=pk)
    streams = selectors.call_log_streams(call=call)
    if stream not in streams:
        raise Http404("No such log.")
    return call, streams


def _cleaned_up(call: Call) -> HttpResponse:
    """Answer 410 Gone for a log that cleanup deleted with its run's call directories."""
    return HttpResponse(f"The run was cleaned up on {call.run.cleaned_up:%Y-%m-%d %H:%M %Z}: its logs were deleted "
                        "with its call directories.\n", status=410, content_type="text/plain; charset=utf-8")


@login_required
def call_log(request, pk: int, stream: str):
    """Show a call's log: all of it once the job ended, and a live tail while it runs."""
    call, streams = _call_and_stream(request, pk, stream)
    live = call.status in Call.LIVE
    error, chunk = None, selectors.LogChunk("", 0, False)
    try:
        if not call.run.cleaned_up:  # its logs went with its call directories: nothing to read
            chunk = selectors.call_log_read(call=call, stream=stream, whole_lines=live)
    except TransientBackendError as exc:
        error = str(exc)
    return render(request, "workflows/call_log.html", {
        "call": call, "run": call.run, "stream": stream, "streams": streams, "live": live, "chunk": chunk,
        "error": error,
    })


@login_required
def call_log_tail(request, pk: int, stream: str):
    """Return what the log gained since the cursor, and the next poll (none once the job ended)."""
    call, _ = _call_and_stream(request, pk, stream)
    if call.run.cleaned_up:
        return _cleaned_up(call)
    try:
        offset = selectors.offset_parse(request.GET.get("offset"), tokens=stream == "log")
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    live = call.status in Call.LIVE
    try:
        chunk = selectors.call_log_read(call=call, stream=stream, offset=offset, limit=TAIL_BYTES, whole_lines=live)
    except TransientBackendError:
        chunk, live = selectors.LogChunk("", offset, False), True  # the backend is busy: ask again next poll
    return render(request, "workflows/_log_tail.html", {
        "call": call, "stream": stream, "chunk": chunk, "polling": live or chunk.more,
    })


@login_required
def call_log_download(request, pk: int, stream: str):
    """Send a call's whole log as a text file."""
    call, _ = _call_and_stream(request, pk, stream)
    if call.run.cleaned_up:
        return _cleaned_up(call)
    response = StreamingHttpResponse(selectors.call_log_iter(call=call, stream=stream),
                                     content_type="text/plain; charset=utf-8")
    shard = f"-shard{call.shard_index}" if call.shard_index >= 0 else ""
    name = f"{slugify(call.fqn)}{shard}-attempt{call.attempt}-{stream}.txt"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
