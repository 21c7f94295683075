"""Cleaning up after a finished run: its scripts under its prefix and its call directories under its root.

Nothing outside the run's own Script rows and its own root is ever deleted, and never while the
run is active. A script that another run also uses (identical scripts share a key) is kept until
the last run that uses it is cleaned up.
"""
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batchsite.config import ConfigError
from teams.models import AuditEvent
from teams.services import audit_record
from workflows.backends import backend_for
from workflows.models import Run, Script
from workflows.services import caching


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


def _own_root(run: Run) -> str | None:
    """Return the run's own directory (<root>/<workflow name>/<run id>), or None: nothing else is deleted."""
    return run.root if PurePosixPath(run.root.rstrip("/")).name == str(run.pk) else None


def _backend(run: Run):
    try:
        return backend_for(run.backend)
    except ConfigError as exc:
        raise ValidationError({"__all__": f"run {run.pk}'s backend {run.backend} cannot be reached: {exc}"}) from None


def run_cleanup_preview(*, run: Run) -> CleanupPlan:
    """Count what cleaning up the run would delete; refuse an active run."""
    _refuse_unless_finished(run)
    scripts, shared = _scripts(run)
    root = _own_root(run)
    files, file_bytes = _backend(run).tree_usage(root) if root else (0, 0)
    return CleanupPlan(scripts=len(scripts), script_bytes=sum(s.size for s in scripts), shared_scripts=shared,
                       files=files, file_bytes=file_bytes)


def run_cleanup(*, run: Run, user) -> CleanupPlan:
    """Delete a finished run's own scripts and call directories; return what was deleted."""
    with transaction.atomic():
        # Under the run's lock, so a retry of its failed calls cannot reopen it meanwhile; once
        # cleaned_up is set, no later retry can.
        run = Run.objects.select_for_update().get(pk=run.pk)
        _refuse_unless_finished(run)
        plan = run_cleanup_preview(run=run)
        run.cleaned_up, run.cleaned_up_by = timezone.now(), user
        run.save(update_fields=["cleaned_up", "cleaned_up_by"])
        if _own_root(run):  # its outputs are about to go: no later call may reuse them
            caching.entries_forget(run_ids=[run.pk])
        event = audit_record(team=run.team, user=user, action=AuditEvent.Action.CLEANUP, target=f"run {run.pk}",
                             status="started", script_prefix=run.script_prefix, root=run.root)
    scripts, _ = _scripts(run)
    backend = _backend(run)
    by_bucket: dict[str, dict[str, int]] = defaultdict(dict)
    for script in scripts:
        by_bucket[script.bucket][script.key] = script.size
    for bucket, sizes in by_bucket.items():
        _, _, errors = backend.delete_scripts(bucket, sizes)
        if errors:
            raise RuntimeError(f"could not delete {len(errors)} of run {run.pk}'s scripts: {errors[0]}")
    Script.objects.filter(run=run).delete()
    if root := _own_root(run):
        backend.tree_delete(root)
    AuditEvent.objects.filter(pk=event.pk).update(details={
        **event.details, "status": "done", "scripts": plan.scripts, "script_bytes": plan.script_bytes,
        "shared_scripts_kept": plan.shared_scripts, "files": plan.files, "file_bytes": plan.file_bytes,
    })
    return plan
