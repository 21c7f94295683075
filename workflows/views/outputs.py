"""A run's output files: a page previewing one, and its download (a presigned URL, or streamed from this host)."""
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import redirect, render

from workflows import selectors
from workflows.backends import TransientBackendError
from workflows.selectors.outputs import PREVIEW_BYTES, output_download, output_preview, run_output_file


def _problem(run, file) -> tuple[str, int] | None:
    """Say why the file cannot be read, with the status to answer; None if nothing stops it."""
    if not file.served:
        return ("This file lies outside the run's own directory (an input passed through, or a result reused "
                "from another run), so Batchsite does not serve it.", 403)
    if run.cleaned_up:
        return "This file was deleted when the run was cleaned up.", 410
    return None


def _page(request, run, file, *, preview=None, problem=None, status=200):
    return render(request, "workflows/run_output.html", {
        "run": run, "file": file, "preview": preview, "problem": problem, "preview_kib": PREVIEW_BYTES // 1024,
    }, status=status)


def _read(request, run, file, read):
    """Return (read()'s result, None), or (None, the page saying why the file cannot be read)."""
    problem = _problem(run, file)
    if problem:
        return None, _page(request, run, file, problem=problem[0], status=problem[1])
    try:
        return read(run=run, file=file), None
    except FileNotFoundError:
        return None, _page(request, run, file, problem="This file no longer exists: it was deleted.", status=410)
    except TransientBackendError as exc:
        return None, _page(request, run, file, problem=f"The storage is busy; try again in a moment ({exc}).",
                           status=503)
    except OSError as exc:
        return None, _page(request, run, file, problem=f"Batchsite will not read this file: {exc}.", status=403)


@login_required
def run_output(request, pk, key: str, index: int):
    """Show one of a run's output files: the first 64 KiB of a text file, and a link to download it whole."""
    run = selectors.run_get_for_user(user=request.user, pk=pk)
    file = run_output_file(run=run, key=key, index=index)
    preview, refused = _read(request, run, file, output_preview)
    return refused or _page(request, run, file, preview=preview)


@login_required
def run_output_download(request, pk, key: str, index: int):
    """Send one of a run's output files whole: through a short-lived S3 URL, or streamed from this host."""
    run = selectors.run_get_for_user(user=request.user, pk=pk)
    file = run_output_file(run=run, key=key, index=index)
    found, refused = _read(request, run, file, output_download)
    if refused:
        return refused
    if isinstance(found, str):
        return redirect(found)
    stream, size = found
    response = FileResponse(stream, as_attachment=True, filename=file.name, content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    return response
