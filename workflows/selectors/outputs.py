"""A run's output files: which values are files, a preview of one, and how the browser downloads it."""
import codecs
import posixpath
from dataclasses import dataclass

from django.http import Http404

from workflows.backends import backend_for
from workflows.models import Run
from workflows.services.versions import document_for

PREVIEW_BYTES = 64 * 1024
MAX_KEY = 500  # an output's name, as a URL gives it
FILES_SHOWN = 200  # linked per output on the run page (a 10,000-shard gather would bury the page)


@dataclass(frozen=True)
class OutputFile:
    """One File value among a run's outputs, addressed by the output's name and its place in the value."""

    key: str
    index: int
    path: str
    served: bool  # in the run's own directory: nothing outside it is ever served

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) or self.path


@dataclass(frozen=True)
class OutputRow:
    key: str
    value: object
    files: list[OutputFile]  # the first FILES_SHOWN
    more: int  # files past those


@dataclass(frozen=True)
class Preview:
    size: int
    text: str | None  # None: not UTF-8 text (binary), so it is not shown
    truncated: bool  # the file is longer than the preview


def run_output_rows(*, run: Run) -> list[OutputRow]:
    """Return each of the run's outputs with its File values (the caller has checked access to the run)."""
    if not run.outputs:
        return []
    files = document_for(run.version).output_files(run.outputs)
    return [OutputRow(key=key, value=value, more=max(0, len(files.get(key, [])) - FILES_SHOWN), files=[
        OutputFile(key=key, index=i, path=path, served=_in_run(run, path))
        for i, path in enumerate(files.get(key, [])[:FILES_SHOWN])
    ]) for key, value in run.outputs.items()]


def _in_run(run: Run, path: str) -> bool:
    # The backend checks again, normalised and without following links, before it opens anything.
    return path.startswith(run.root.rstrip("/") + "/")


def run_output_file(*, run: Run, key: str, index: int) -> OutputFile:
    """Return the index-th File value of the run's output key; 404 when there is none."""
    if len(key) > MAX_KEY or not run.outputs or key not in run.outputs:
        raise Http404("No such output.")
    files = document_for(run.version).output_files({key: run.outputs[key]}).get(key, [])
    if not 0 <= index < len(files):
        raise Http404("No such file among this output's values.")
    return OutputFile(key=key, index=index, path=files[index], served=_in_run(run, files[index]))


def output_preview(*, run: Run, file: OutputFile) -> Preview:
    """Read the file's first PREVIEW_BYTES; raise FileNotFoundError when it is gone, OSError when refused."""
    stream, size = backend_for(run.backend).output_open(file.path, under=run.root, length=PREVIEW_BYTES)
    try:
        data = stream.read(PREVIEW_BYTES)
    finally:
        stream.close()
    try:
        # an incremental decoder leaves a character the preview cut in two for later, instead of failing on it
        text = codecs.getincrementaldecoder("utf-8")().decode(data, final=len(data) >= size)
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" in text:
        text = None
    return Preview(size=size, text=text, truncated=size > len(data))


def output_download(*, run: Run, file: OutputFile):
    """Return a URL to send the browser to, or (stream, size) for the web process to send; raise as output_preview."""
    backend = backend_for(run.backend)
    url = backend.output_url(file.path, under=run.root, filename=file.name)
    if url is not None:
        return url
    return backend.output_open(file.path, under=run.root)
