"""Writes for workflows and their versions."""
import dataclasses
import functools
import hashlib
import io
import posixpath
import zipfile

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from teams.models import Project
from teams.services import narrowing_validate
from workflows import engine
from workflows.models import Workflow, WorkflowVersion
from workflows.services.limits import json_problem

MAX_SOURCE_BYTES = 5 * 1024 * 1024
MAX_IMPORTS_BYTES = 50 * 1024 * 1024
MAX_IMPORT_FILES = 200


def _source_text(source: bytes, filename: str) -> str:
    if len(source) > MAX_SOURCE_BYTES:
        raise ValidationError({"source": f"{filename} is {len(source):,} bytes; at most {MAX_SOURCE_BYTES:,} are allowed"})
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError({"source": f"{filename} is not UTF-8 text (byte {exc.start})"}) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ValidationError({"source": f"{filename}:{line}: holds a NUL character, which WDL text cannot contain"})
    return text


def imports_zip(*, files: dict[str, bytes], zip_bytes: bytes | None = None) -> bytes | None:
    """Return the imports zip for a version: the given zip, or one built from the imported files by path.

    The files sit beside the main file (a path is relative to its folder), as `cromwell run` and
    `miniwdl run` find them; the version keeps them as a zip, so the engine sees one kind of imports.
    """
    if not files:
        return zip_bytes
    if zip_bytes:
        raise ValidationError({"files": "give the imported files or an imports zip, not both"})
    if len(files) > MAX_IMPORT_FILES:
        raise ValidationError({"files": f"{len(files)} files were given; at most {MAX_IMPORT_FILES} are allowed"})
    total = sum(len(data) for data in files.values())
    if total > MAX_IMPORTS_BYTES:
        raise ValidationError({"files": f"the imported files are {total:,} bytes; at most {MAX_IMPORTS_BYTES:,} are allowed"})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            path = posixpath.normpath(name.replace("\\", "/"))
            if not name or path.startswith(("/", "../")) or path in (".", ".."):
                raise ValidationError({"files": f"{name!r} is not a file name beside the main file"})
            if len(data) > MAX_SOURCE_BYTES:
                raise ValidationError({"files": f"{name} is {len(data):,} bytes; at most {MAX_SOURCE_BYTES:,} are allowed"})
            archive.writestr(path, data)
    return buffer.getvalue()


def wdl_check(*, source: bytes, filename: str = "main.wdl", imports: bytes | None = None,
              runnable: bool = True) -> "engine.Document":
    """Parse and typecheck WDL with miniwdl; a problem is a ValidationError naming line and column.

    runnable=False accepts a library of tasks (no workflow), which can be described but not run.
    """
    text = _source_text(source, filename)
    if imports is not None and len(imports) > MAX_IMPORTS_BYTES:
        raise ValidationError({"imports": f"the imports zip is {len(imports):,} bytes; at most {MAX_IMPORTS_BYTES:,} are allowed"})
    try:
        doc = engine.load(text, filename=filename, imports=imports or None, runnable=runnable)
    except engine.WdlError as exc:
        field = "imports" if str(exc).startswith("imports") else "source"
        raise ValidationError({field: exc.detail}) from None
    # an imported file may hold what the database cannot store (a NUL in a default): the specs are stored
    problem = json_problem([dataclasses.asdict(spec) for spec in (*doc.inputs, *doc.outputs)])
    if problem:
        raise ValidationError({"imports": f"an input or output of the WDL cannot be stored: {problem}"})
    return doc


def workflow_version_create(*, workflow: Workflow, source: bytes, filename: str = "main.wdl",
                            imports: bytes | None = None, user=None) -> WorkflowVersion:
    """Store a new version of a workflow (or return the existing one with the same content)."""
    digest = hashlib.sha256(source + b"\0" + (imports or b"")).hexdigest()
    existing = workflow.versions.filter(sha256=digest).first()
    if existing:
        return existing
    doc = wdl_check(source=source, filename=filename, imports=imports)
    with transaction.atomic():
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        existing = workflow.versions.filter(sha256=digest).first()
        if existing:
            return existing
        number = (workflow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = WorkflowVersion(
            workflow=workflow, number=number, sha256=digest, wdl_name=doc.name, wdl_version=doc.version,
            inputs_spec=[dataclasses.asdict(spec) for spec in doc.inputs],
            outputs_spec=[dataclasses.asdict(spec) for spec in doc.outputs],
            created_by=user,
        )
        version.source.save(filename, ContentFile(source), save=False)
        if imports:
            version.imports.save("imports.zip", ContentFile(imports), save=False)
        version.save()
    return version


def workflow_create(*, project: Project, name: str, source: bytes, filename: str = "main.wdl",
                    imports: bytes | None = None, description: str = "", script_prefix: str = "",
                    job_role_arn: str = "", user=None) -> Workflow:
    """Create a workflow in a project with its first version; nothing is written if the WDL is bad."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "a workflow needs a name"})
    slug = slugify(name)[:50]
    if not slug:
        raise ValidationError({"name": f"{name!r} has no letters or digits to make a URL from"})
    narrowing_validate(team=project.team, script_prefix=script_prefix, job_role_arn=job_role_arn)
    wdl_check(source=source, filename=filename, imports=imports)
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                project=project, name=name, slug=slug, description=description,
                script_prefix=script_prefix, job_role_arn=job_role_arn, created_by=user,
            )
            workflow_version_create(workflow=workflow, source=source, filename=filename, imports=imports, user=user)
    except IntegrityError:
        raise ValidationError({"name": f"project {project} already has a workflow called {slug!r}"}) from None
    return workflow


@functools.lru_cache(maxsize=64)
def _document(sha256: str, source_name: str, imports_name: str) -> "engine.Document":
    from django.core.files.storage import default_storage

    with default_storage.open(source_name) as f:
        source = f.read().decode("utf-8")
    imports = None
    if imports_name:
        with default_storage.open(imports_name) as f:
            imports = f.read()
    return engine.load(source, filename=source_name.rsplit("/", 1)[-1], imports=imports)


def document_for(version: WorkflowVersion) -> "engine.Document":
    """Return the parsed WDL of a version, cached per process by content hash."""
    return _document(version.sha256, version.source.name, version.imports.name or "")
