"""WES's multipart RunRequest: every part checked and bounded, attachments kept with their folders.

The main workflow is the attachment workflow_url names; the other attachments become the version's
imports zip, as paths relative to the main file's folder, so `import "lib/tasks.wdl"` finds them.
"""
import dataclasses
import html
import posixpath
import re

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig, SuspiciousFileOperation, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent,
)
from django.http import UnreadablePostError
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.utils.text import get_valid_filename

from workflows.api import SERVER_VERSION
from workflows.services import imports_zip
from workflows.services.limits import MAX_OPTIONS_BYTES, json_load
from workflows.services.versions import MAX_IMPORTS_BYTES, MAX_SOURCE_BYTES
from workflows.wes.errors import WesError

ENGINE = "Batchsite"
WDL_VERSIONS = ("draft-2", "1.0", "1.1")  # what workflow_type_version may say; the document's own version decides
TEXT_PARTS = ("workflow_params", "workflow_type", "workflow_type_version", "tags", "workflow_engine",
              "workflow_engine_version", "workflow_engine_parameters", "workflow_url")
ATTACHMENT = "workflow_attachment"
MAX_JSON_PART_BYTES = 16 * 1024 * 1024  # the team's own limits on inputs apply after this
MAX_REQUEST_BYTES = MAX_IMPORTS_BYTES + 2 * MAX_JSON_PART_BYTES
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclasses.dataclass
class RunRequest:
    workflow_url: str  # normalised: the attachment's path
    filename: str  # what the version stores the main file as
    source: bytes
    imports: bytes | None
    params: dict
    options: dict  # workflow_engine_parameters: Cromwell's workflow options
    tags: dict
    type_version: str


class _AttachmentParser(MultiPartParser):
    """Django's multipart parser, except that a file part's name keeps its folders (an attachment is a path)."""

    def sanitize_file_name(self, file_name):
        name = "".join(char for char in html.unescape(file_name) if char.isprintable())
        return name or None  # run_request_parse refuses absolute paths and ".."


class _KeepPath:
    def file_complete(self, file_size):
        upload = super().file_complete(file_size)
        if upload is not None:  # an UploadedFile keeps only the base name: keep the path as sent beside it
            upload.path = self.file_name
        return upload


class _MemoryHandler(_KeepPath, MemoryFileUploadHandler):
    pass


class _DiskHandler(_KeepPath, TemporaryFileUploadHandler):
    pass


def _parts(request):
    if not request.content_type.startswith("multipart/form-data"):
        raise WesError(415, f"POST /runs takes multipart/form-data (a RunRequest), not {request.content_type[:100]!r}")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise WesError(400, "The Content-Length header is not a number") from None
    if length > MAX_REQUEST_BYTES:
        raise WesError(413, f"The request is {length:,} bytes; at most {MAX_REQUEST_BYTES:,} are allowed")
    try:
        handlers = [_MemoryHandler(request), _DiskHandler(request)]
        return _AttachmentParser(request.META, request, handlers, request.encoding).parse()
    except TooManyFilesSent:
        raise WesError(413, f"Too many attachments: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files "
                            "are allowed in one request") from None
    except TooManyFieldsSent:
        raise WesError(413, f"Too many parts: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} are allowed") from None
    except RequestDataTooBig:
        raise WesError(413, f"The text parts are over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes together: "
                            "send a large workflow_params as a file part") from None
    except (MultiPartParserError, UnreadablePostError, SuspiciousOperation) as exc:
        raise WesError(400, f"The request body could not be read as multipart/form-data: {exc}") from None


def _texts(post, files, errors: list[str]) -> dict[str, str]:
    """Return each text part once, whether it came as a form field or as a file part."""
    texts = {}
    for name in TEXT_PARTS:
        values = post.getlist(name)
        for upload in files.getlist(name):
            if upload.size > MAX_JSON_PART_BYTES:
                raise WesError(413, f"{name} is {upload.size:,} bytes; at most {MAX_JSON_PART_BYTES:,} are allowed")
            try:
                values.append(upload.read().decode("utf-8"))
            except UnicodeDecodeError:
                errors.append(f"{name} is not UTF-8 text")
        if len(values) > 1:
            errors.append(f"{name} was sent {len(values)} times; send it once")
        elif values:
            texts[name] = values[0]
    return texts


def _json_object(texts: dict, name: str, errors: list[str], *, max_bytes: int = MAX_JSON_PART_BYTES) -> dict:
    text = texts.get(name, "").strip()
    if not text:
        return {}
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise WesError(413, f"{name} is {size:,} bytes; at most {max_bytes:,} are allowed")
    try:
        value = json_load(text)
    except ValueError as exc:
        errors.append(f"{name} is {exc}")
        return {}
    if not isinstance(value, dict):
        errors.append(f"{name} must be a JSON object ({{...}}), not {type(value).__name__}")
        return {}
    return value


def _attachment_path(name: str) -> str | None:
    """Return an attachment's normalised relative path, or None when it points outside (absolute, "..")."""
    path = posixpath.normpath(name.replace("\\", "/"))
    if not name or path.startswith("/") or _URL.match(path) or path in (".", "..") or path.startswith("../"):
        return None
    return path


def _attachments(post, files, errors: list[str]) -> dict[str, bytes]:
    if ATTACHMENT in post:
        errors.append(f"{ATTACHMENT} parts must be files with a filename (Content-Disposition: form-data; "
                      f'name="{ATTACHMENT}"; filename="main.wdl")')
    attached, total = {}, 0
    for upload in files.getlist(ATTACHMENT):
        path = _attachment_path(upload.path)
        if path is None:
            errors.append(f"{ATTACHMENT} {upload.path[:200]!r} is not a relative path inside the workflow's "
                          "folder (no leading /, no ..)")
            continue
        if upload.size > MAX_SOURCE_BYTES:
            raise WesError(413, f"{ATTACHMENT} {path[:200]} is {upload.size:,} bytes; at most {MAX_SOURCE_BYTES:,} "
                                "are allowed per file")
        total += upload.size
        if total > MAX_IMPORTS_BYTES:
            raise WesError(413, f"The attachments are over {MAX_IMPORTS_BYTES:,} bytes together")
        if path in attached:
            errors.append(f"{ATTACHMENT} {path[:200]} was sent twice")
        attached[path] = upload.read()
    return attached


def _workflow_url(texts: dict, attached: dict[str, bytes], errors: list[str]) -> str | None:
    url = texts.get("workflow_url", "").strip()
    if not url:
        errors.append("workflow_url is required: the name of the attached main workflow file")
        return None
    if _URL.match(url) or url.startswith("/"):
        errors.append(f"workflow_url {url[:200]!r} is absolute: this server runs only attached workflows, so "
                      "workflow_url must be the name of one of the workflow_attachment files (such as main.wdl)")
        return None
    path = _attachment_path(url)
    if path not in attached:
        names = ", ".join(sorted(attached)[:10]) or "none were attached"
        errors.append(f"workflow_url {url[:200]!r} names no workflow_attachment (attached: {names})")
        return None
    return path


def _checked_type(texts: dict, errors: list[str]) -> str:
    workflow_type = texts.get("workflow_type", "").strip()
    if not workflow_type:
        errors.append("workflow_type is required: WDL")
    elif workflow_type.upper() != "WDL":
        errors.append(f"workflow_type {workflow_type[:40]!r} is not supported: this server runs WDL only")
    type_version = texts.get("workflow_type_version", "").strip()
    if type_version not in WDL_VERSIONS:
        shown = f"{type_version[:40]!r} is not supported" if type_version else "is required"
        errors.append(f"workflow_type_version {shown}: one of {', '.join(WDL_VERSIONS)}")
    engine = texts.get("workflow_engine", "").strip()
    engine_version = texts.get("workflow_engine_version", "").strip()
    if engine and engine.lower() != ENGINE.lower():
        errors.append(f"workflow_engine {engine[:40]!r} is not supported: this server's engine is {ENGINE}")
    if engine_version and not engine:
        errors.append("workflow_engine_version needs workflow_engine")
    elif engine_version and engine_version != SERVER_VERSION:
        errors.append(f"workflow_engine_version {engine_version[:40]!r} is not supported: {ENGINE} is {SERVER_VERSION}")
    return type_version


def run_request_parse(request) -> RunRequest:
    """Read a multipart RunRequest; raise WesError (400 listing every problem, 413 for what is too big)."""
    post, files = _parts(request)
    errors = []
    known = {*TEXT_PARTS, ATTACHMENT}
    errors.extend(f"Unexpected part {name[:100]!r}: a RunRequest has {', '.join(sorted(known))}"
                  for name in sorted({*post, *files} - known)[:10])
    texts = _texts(post, files, errors)
    type_version = _checked_type(texts, errors)
    params = _json_object(texts, "workflow_params", errors)
    options = _json_object(texts, "workflow_engine_parameters", errors, max_bytes=MAX_OPTIONS_BYTES)
    tags = _json_object(texts, "tags", errors, max_bytes=MAX_OPTIONS_BYTES)
    attached = _attachments(post, files, errors)
    url = _workflow_url(texts, attached, errors)
    imports = None
    if url is not None:
        folder = posixpath.dirname(url)
        outside = [path for path in attached if folder and not path.startswith(folder + "/")]
        if outside:
            errors.append(f"{ATTACHMENT} {outside[0][:200]} lies outside the folder of workflow_url {url[:200]}: "
                          "imports are found beside the main file or below it")
        elif not errors:
            imports = imports_zip(files={posixpath.relpath(path, folder or "."): data
                                         for path, data in attached.items() if path != url})
    if errors:
        raise WesError(400, "; ".join(errors))
    try:
        filename = get_valid_filename(posixpath.basename(url))
    except SuspiciousFileOperation:  # a name of only punctuation: the file is stored under a plain one
        filename = "main.wdl"
    return RunRequest(workflow_url=url, filename=filename, source=attached[url], imports=imports, params=params,
                      options=options, tags=tags, type_version=type_version)
