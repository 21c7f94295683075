"""Cleaning up after a finished run: its scripts under its prefix and its call directories under its root.

Nothing outside the run's own Script rows and its own root is ever deleted, and never while the
run is active. A script that another run also uses (identical scripts share a key) is kept until
the last run that uses it is cleaned up.
"""
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from teams.models import AuditEvent
from teams.services import audit_record
from workflows.backends import backend_for, local_root, provider_for
from workflows.models import Run, Script


@dataclass(frozen=True)
class CleanupPlan:
    """What a cleanup deletes (or deleted): scripts and call-directory files, with their sizes."""

    scripts: int = 0
    script_bytes: int = 0
    shared_scripts: int = 0  # used by other runs too, so kept
    files: int = 0
    file_bytes: int = 0

    @property
    def objects(self) -> int:
        return self.scripts + self.files

    @property
    def bytes(self) -> int:
        return self.script_bytes + self.file_bytes


def _refuse_unless_finished(run: Run) -> None:
    if run.is_active:
        raise ValidationError({"__all__": f"run {run.pk} is {run.status}: a run is cleaned up only once it has "
                                          "ended (abort it first)"})


def _scripts(run: Run) -> tuple[list[Script], int]:
    """Return the run's scripts that only it uses, and how many it shares with other runs."""
    own = [s for s in Script.objects.filter(run=run).order_by("pk") if s.key.startswith(run.script_prefix)]
    shared = set(Script.objects.filter(key__in=[s.key for s in own]).exclude(run=run)
                 .values_list("bucket", "key"))
    return [s for s in own if (s.bucket, s.key) not in shared], sum((s.bucket, s.key) in shared for s in own)


def _local_run_dir(run: Run) -> Path | None:
    """Return the run's own directory under its local provider's root, or None if it is anything else."""
    root = Path(local_root(provider_for(run.backend))).resolve()
    run_dir = Path(run.root)
    # The run's directory is <root>/<workflow name>/<run id>: refuse anything else, and symlinks.
    own = PurePosixPath(run.root).name == str(run.pk) and not run_dir.is_symlink()
    return run_dir if own and run_dir.resolve().is_relative_to(root) else None


def _tree_usage(run: Run) -> tuple[int, int]:
    """Return how many files the run's directory holds and their bytes."""
    if provider_for(run.backend).kind != "local":
        return _remote(run).tree_usage(_remote_root(run))
    run_dir = _local_run_dir(run)
    files = size = 0
    if run_dir is None or not run_dir.is_dir():
        return 0, 0
    for folder, dirs, names in os.walk(run_dir):  # does not follow symlinks: a link is one file here
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            try:
                size += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return files, size


def _tree_delete(run: Run) -> None:
    if provider_for(run.backend).kind != "local":
        _remote(run).tree_delete(_remote_root(run))
        return
    run_dir = _local_run_dir(run)
    if run_dir is not None and run_dir.is_dir():
        shutil.rmtree(run_dir)


def _remote_root(run: Run) -> str:
    if not run.root.rstrip("/").endswith(str(run.pk)):
        raise ValidationError({"__all__": f"run {run.pk}'s root {run.root} is not its own directory; nothing deleted"})
    return run.root.rstrip("/") + "/"


def _remote(run: Run):
    backend = backend_for(run.backend)
    if not all(hasattr(backend, m) for m in ("tree_usage", "tree_delete", "objects_delete")):
        raise ValidationError({"__all__": f"the {run.backend} backend cannot clean up runs yet"})
    return backend


def run_cleanup_preview(*, run: Run) -> CleanupPlan:
    """Count what cleaning up the run would delete; refuse an active run."""
    _refuse_unless_finished(run)
    scripts, shared = _scripts(run)
    files, file_bytes = _tree_usage(run)
    return CleanupPlan(scripts=len(scripts), script_bytes=sum(s.size for s in scripts), shared_scripts=shared,
                       files=files, file_bytes=file_bytes)


def run_cleanup(*, run: Run, user) -> CleanupPlan:
    """Delete a finished run's own scripts and call directories; return what was deleted."""
    with transaction.atomic():
        # Under the run's lock, so a retry of its failed calls cannot reopen it meanwhile; the
        # audit event says it was cleaned up, which stops any later retry.
        run = Run.objects.select_for_update().get(pk=run.pk)
        _refuse_unless_finished(run)
        plan = run_cleanup_preview(run=run)
        event = audit_record(team=run.team, user=user, action=AuditEvent.Action.CLEANUP, target=f"run {run.pk}",
                             status="started", script_prefix=run.script_prefix, root=run.root)
    scripts, _ = _scripts(run)
    for script in (s for s in scripts if not s.bucket):
        default_storage.delete(script.key)
    remote = [f"s3://{s.bucket}/{s.key}" for s in scripts if s.bucket]
    if remote:
        _remote(run).objects_delete(remote)
    Script.objects.filter(run=run).delete()
    _tree_delete(run)
    AuditEvent.objects.filter(pk=event.pk).update(details={
        **event.details, "status": "done", "scripts": plan.scripts, "script_bytes": plan.script_bytes,
        "shared_scripts_kept": plan.shared_scripts, "files": plan.files, "file_bytes": plan.file_bytes,
    })
    return plan
