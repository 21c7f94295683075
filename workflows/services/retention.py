"""Scheduled housekeeping: expired scripts per team retention policy, and orphan Batch jobs.

A script is deleted only when it is a recorded Script row of the team, listed under the prefix
its run used, and every run that uses that key (in any team) has finished longer ago than the
policy allows: a script an active run shares is kept, and nothing Batchsite did not write is
ever touched. Every cleanup and every terminated orphan is recorded in a CleanupReport.
"""
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from batchsite.config import ConfigError, get_config
from teams.models import AuditEvent, Team
from teams.services import audit_record
from workflows.backends import backend_for
from workflows.models import CleanupReport, RetentionPolicy, Run, Script
from workflows.services.cleanup import run_cleanup

log = logging.getLogger(__name__)

ROW_CHUNK = 5000  # keys per DELETE ... WHERE key IN (...)
DEFINITION_DAYS = 30  # job definitions no submission used for this long are deregistered


@dataclass
class RetentionPlan:
    """The expired scripts of one team, by (backend, bucket): {key: size as listed}."""

    team: Team
    policy: RetentionPolicy
    objects: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    gone: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # recorded, but no longer stored

    @property
    def count(self) -> int:
        return sum(len(sizes) for sizes in self.objects.values())

    @property
    def bytes(self) -> int:
        return sum(sum(sizes.values()) for sizes in self.objects.values())


def retention_policy_for(*, team: Team) -> RetentionPolicy:
    """Return the team's policy, or the default one (30 days, call directories kept) unsaved."""
    return RetentionPolicy.objects.filter(team=team).first() or RetentionPolicy(team=team)


def _expired(cutoff) -> Q:
    return Q(created__lt=cutoff, run__status__in=Run.TERMINAL, run__ended__lt=cutoff)


def team_retention_plan(*, team: Team, now=None) -> RetentionPlan:
    """List the team's expired scripts under the prefixes their runs used; delete nothing."""
    policy = retention_policy_for(team=team)
    cutoff = (now or timezone.now()) - timedelta(days=policy.script_days)
    # A key another run still needs (active, or finished recently) blocks it, whatever its team.
    needed = Script.objects.filter(bucket=OuterRef("bucket"), key=OuterRef("key")).filter(
        ~Q(created__lt=cutoff) | ~Q(run__status__in=Run.TERMINAL) | Q(run__ended__isnull=True)
        | Q(run__ended__gte=cutoff))
    rows = (Script.objects.filter(team=team).filter(_expired(cutoff)).filter(~Exists(needed))
            .values_list("run__backend", "bucket", "run__script_prefix", "key").distinct())
    by_prefix: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for backend, bucket, prefix, key in rows:
        if key.startswith(prefix):  # anything else is not under a prefix Batchsite used: never touched
            by_prefix[(backend, bucket, prefix)].add(key)
    plan = RetentionPlan(team=team, policy=policy)
    for (backend, bucket, prefix), keys in by_prefix.items():
        listed = backend_for(backend).script_sizes(bucket, prefix)
        sizes = plan.objects.setdefault((backend, bucket), {})
        sizes.update((k, listed[k]) for k in keys if k in listed)
        plan.gone.setdefault((backend, bucket), []).extend(k for k in keys if k not in listed)
    return plan


def team_retention_preview(*, team: Team) -> CleanupReport:
    """Record (as a dry run) what the team's retention policy would delete now."""
    started = time.monotonic()
    plan = team_retention_plan(team=team)
    return CleanupReport.objects.create(
        team=team, kind=CleanupReport.Kind.SCRIPTS, dry_run=True, deleted_objects=plan.count,
        deleted_bytes=plan.bytes, duration=time.monotonic() - started,
        details={"script_days": plan.policy.script_days, "already_gone": sum(map(len, plan.gone.values()))})


def team_retention_apply(*, team: Team, user=None) -> CleanupReport:
    """Delete the team's expired scripts, forget their Script rows, and record what S3 (or storage) lost."""
    started = time.monotonic()
    plan = team_retention_plan(team=team)
    deleted_count = deleted_bytes = 0
    errors: list[str] = []
    for (backend, bucket), sizes in plan.objects.items():
        deleted: list[str] = []
        if sizes:
            deleted, size, failed = backend_for(backend).delete_scripts(bucket, sizes)
            deleted_count, deleted_bytes, errors = deleted_count + len(deleted), deleted_bytes + size, errors + failed
        forget = deleted + plan.gone.get((backend, bucket), [])
        for start in range(0, len(forget), ROW_CHUNK):
            Script.objects.filter(bucket=bucket, key__in=forget[start:start + ROW_CHUNK]).delete()
    report = CleanupReport.objects.create(
        team=team, kind=CleanupReport.Kind.SCRIPTS, deleted_objects=deleted_count, deleted_bytes=deleted_bytes,
        duration=time.monotonic() - started, errors=errors[:100],
        details={"script_days": plan.policy.script_days, "errors": len(errors),
                 "already_gone": sum(map(len, plan.gone.values()))})
    if deleted_count or errors:
        audit_record(team=team, user=user, action=AuditEvent.Action.CLEANUP, target="expired scripts",
                     report=report.pk, scripts=deleted_count, script_bytes=deleted_bytes, errors=len(errors),
                     script_days=plan.policy.script_days)
    return report


def team_call_dirs_expire(*, team: Team, now=None) -> list[Run]:
    """Clean up (call directories and scripts) the team's runs that ended more than call_dir_days ago."""
    policy = retention_policy_for(team=team)
    if policy.call_dir_days is None:
        return []
    cutoff = (now or timezone.now()) - timedelta(days=policy.call_dir_days)
    runs = list(Run.objects.filter(team=team, status__in=Run.TERMINAL, ended__lt=cutoff, cleaned_up__isnull=True)
                .order_by("ended"))
    for run in runs:
        run_cleanup(run=run, user=None)  # marks the run cleaned up, so it is never listed again
    return runs


def cleanup_old_scripts() -> list[CleanupReport]:
    """Apply every team's retention policy, then deregister job definitions nobody used for a month."""
    reports = []
    for team in Team.objects.order_by("pk"):
        try:
            reports.append(team_retention_apply(team=team))
            team_call_dirs_expire(team=team)
        except Exception as exc:  # one team's failure must not stop the others' cleanup; it is reported
            log.exception("retention cleanup of team %s failed", team.slug)
            reports.append(CleanupReport.objects.create(team=team, errors=[f"cleanup failed: {exc}"]))
    for _, backend in _backends():
        backend.deregister_unused(DEFINITION_DAYS)
    return reports


def orphans_reconcile() -> list[CleanupReport]:
    """Terminate Batchsite-tagged jobs whose run is finished, aborted or unknown; report them per team."""
    reports = []
    for name, backend in _backends():
        started = time.monotonic()
        jobs = backend.active_jobs()
        run_ids = {tags["batchsite:run"] for tags in jobs.values()}
        active = {str(pk) for pk in Run.objects.filter(pk__in=_uuids(run_ids)).exclude(
            status__in=Run.TERMINAL).values_list("pk", flat=True)}
        orphans = {job_id: tags for job_id, tags in jobs.items() if tags["batchsite:run"] not in active}
        if not orphans:
            continue
        backend.terminate(sorted(orphans))
        by_team: dict[int | None, list[dict]] = defaultdict(list)
        # batchsite:team is the team's slug (jobs submitted before cost tags carry its id).
        named = {str(t.get("batchsite:team", "")) for t in orphans.values()}
        teams = {**{slug: pk for pk, slug in Team.objects.filter(slug__in=named).values_list("pk", "slug")},
                 **{str(pk): pk for pk in Team.objects.filter(pk__in=[n for n in named if n.isdigit()])
                    .values_list("pk", flat=True)}}
        for job_id, tags in orphans.items():
            team_id = teams.get(str(tags.get("batchsite:team", "")))
            by_team[team_id].append({"job": job_id, "run": tags["batchsite:run"]})
        for team_id, terminated in by_team.items():
            reports.append(CleanupReport.objects.create(
                team_id=team_id, kind=CleanupReport.Kind.ORPHANS, deleted_objects=len(terminated),
                duration=time.monotonic() - started, details={"backend": name, "terminated": terminated}))
            if team_id is not None:
                audit_record(team=Team(pk=team_id), user=None, action=AuditEvent.Action.CLEANUP,
                             target="orphan Batch jobs", terminated=terminated)
    return reports


def _backends():
    """Yield (name, backend) of every provider that can be used (placeholders left: skipped)."""
    for name in get_config().providers:
        try:
            yield name, backend_for(name)
        except ConfigError as exc:
            log.warning("housekeeping skips backend %s: %s", name, exc)


def _uuids(values) -> list[str]:
    ids = []
    for value in values:
        try:
            ids.append(str(uuid.UUID(value)))
        except ValueError:
            continue  # a tag Batchsite did not write: no run has it
    return ids
