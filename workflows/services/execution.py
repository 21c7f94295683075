"""Dispatching calls under the caps, and aborting runs (runs step in advance.py; what the backends
report is taken in by polling.py).

Every function here is safe to run twice and in several workers at once: rows are claimed
with conditional updates or under row locks, and nothing is sent to a backend inside a
transaction.
"""
import logging
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from notifications.services import run_end_notify
from teams.models import Project, Team
from workflows import engine
from workflows.backends import JobSpec, backend_for, provider_for
from workflows.models import Call, Run, Script
from workflows.services import caching
from workflows.services.bulk import calls_update
from workflows.services.cost import asked_fields, attempt_outcome, job_tags
from workflows.services.leases import lease_kept, lease_owner, lease_renew, lease_take
from workflows.services.limits import host_reads
from workflows.services.versions import document_for

log = logging.getLogger(__name__)

ADVANCEABLE = (Run.Status.SUBMITTED, Run.Status.RUNNING)
# A saved state from another miniwdl version fails to load with ValueError.
ENGINE_ERRORS = (engine.EvalError, engine.OutputError, engine.InputError, ValueError)


def call_dir(run_root: str, call_id: str, attempt: int) -> str:
    """Lay a call attempt out as Cromwell does: call-<name>/shard-<i>/attempt-<n>."""
    parts = [run_root]
    for segment in call_id.split("/"):  # "call-<name>[-<shard>...]", one per (sub)workflow level
        name, *shards = segment.removeprefix("call-").split("-")
        parts.append(f"call-{name}")
        parts.extend(f"shard-{int(shard)}" for shard in shards)
    parts.append(f"attempt-{attempt}")
    return "/".join(parts)  # not PurePosixPath, which turns s3://bucket into s3:/bucket


# ---- dispatch: claim queued calls under the caps, then submit outside the transaction ----

def _enqueue_dispatch(team_id: int) -> None:
    from workflows.tasks import team_dispatch_task

    team_dispatch_task.delay_on_commit(team_id)


def _lock_provider(name: str) -> None:
    # The provider's concurrent-job-limit spans teams: serialise claims per provider.
    # (SQLite's IMMEDIATE transactions already serialise every writer.)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"batchsite-provider:{name}"])


def _claim(team_id: int, *, owner: str = "") -> tuple[list[Call], bool]:
    """Mark as many of the team's oldest queued calls SUBMITTING, claimed by owner, as every cap and the
    backends' dispatch_batch allow; return them, and whether a dispatch_batch stopped the claim."""
    with transaction.atomic():
        backends = list(Call.objects.filter(team_id=team_id, status=Call.Status.QUEUED)
                        .order_by().values_list("backend", flat=True).distinct())
        for name in sorted(backends):
            _lock_provider(name)
        team = Team.objects.select_for_update(no_key=True).filter(pk=team_id).first()
        if team is None:
            return [], False
        free = team.max_running_jobs - Call.objects.filter(team=team, status__in=Call.ACTIVE).count()
        if free <= 0 or not backends:
            return [], False
        most = min([free, *(b for b in (backend_for(name).dispatch_batch for name in backends) if b)])
        project_free = {
            p.pk: p.cap(team.max_running_jobs) - p.active
            for p in Project.objects.filter(team=team, max_running_jobs__isnull=False).annotate(
                active=Count("runs__calls", filter=Q(runs__calls__status__in=Call.ACTIVE)))
        }
        backend_free = {}
        for name in backends:
            limit = provider_for(name).concurrent_job_limit
            if limit is not None:
                backend_free[name] = limit - Call.objects.filter(backend=name, status__in=Call.ACTIVE).count()
        chosen = set()
        candidates = (Call.objects.filter(team=team, status=Call.Status.QUEUED, run__status__in=ADVANCEABLE,
                                          cache_pending=False)
                      .order_by("run__submitted", "pk").values_list("pk", "project_id", "backend"))
        for pk, project_id, backend in _pages(candidates, first=most + 100, last=free + 10_000):
            if len(chosen) >= most:
                break
            if pk in chosen or project_free.get(project_id, 1) <= 0 or backend_free.get(backend, 1) <= 0:
                continue
            chosen.add(pk)
            if project_id in project_free:
                project_free[project_id] -= 1
            if backend in backend_free:
                backend_free[backend] -= 1
        if not chosen:
            return [], False
        if owner:  # the claims last while the owner renews its lease (a claim without one: the submit timeout)
            lease_take(owner=owner)
        Call.objects.filter(pk__in=chosen, status=Call.Status.QUEUED).update(
            status=Call.Status.SUBMITTING, claimed=timezone.now(), claimed_by=owner
        )
        claimed = list(Call.objects.filter(pk__in=chosen, status=Call.Status.SUBMITTING, claimed_by=owner)
                       .select_related("run__version__workflow", "run__project", "team")
                       .defer("run__engine_state"))  # a run's saved state: MBs per row, unused here
        return claimed, len(chosen) == most < free


def _pages(rows: QuerySet, *, first: int, last: int):
    """Yield rows[:last], read in two pages: the second only when a consumer goes past a full first one
    (a wide scatter's queued calls are not all read for every batch a dispatch claims)."""
    page = list(rows[:first])
    yield from page
    if len(page) == first:
        yield from rows[first:last]  # rows may have moved meanwhile: a row read twice is skipped


def job_spec(call: Call) -> JobSpec:
    """Evaluate a call's command and runtime with the engine and describe the job to run."""
    run = call.run
    doc = document_for(run.version)
    with backend_for(call.backend).workspace(call.call_dir) as workspace:
        prepared = engine.prepare(doc, call.task, call.inputs, work_dir=workspace.work_dir,
                                  map_path=workspace.job_path, localize=workspace.localize,
                                  max_items=call.team.limit("max_calls_per_run"),
                                  readable=host_reads(run, workspace.work_dir))
        files = workspace.staged()
    call.command, call.runtime, call.prepared_inputs = prepared.command, prepared.runtime, prepared.inputs
    return JobSpec(
        name=job_name(call), call_dir=call.call_dir, command=prepared.command, runtime=prepared.runtime,
        script_prefix=run.script_prefix, job_role_arn=run.job_role_arn, files=files,
        registry_credential_arn=call.team.registry_credential_arn,
        tags=job_tags(call),
    )


def job_name(call: Call) -> str:
    """Return the deterministic job name of a call attempt (found again after a lost reply)."""
    return f"bs-{call.run_id.hex[:12]}-{call.pk}-a{call.attempt}"


def team_dispatch(*, team_id: int) -> int:
    """Submit the team's queued calls that fit under its caps; return how many went out."""
    caching.lookup_team(team_id=team_id)  # hits end here, taking no slot
    owner = lease_owner("dispatch")
    claimed, more = _claim(team_id, owner=owner)
    if more:  # the rest of the free slots go to another worker while this one submits its batch
        _enqueue_dispatch(team_id)
    if not claimed:
        return 0
    # Should this worker die, its lease lapses within seconds and claims_recover takes the calls over
    # (polling.py), adopting by name any job whose submission went through.
    with lease_kept(owner=owner):
        unevaluable = _submit_claimed(claimed, owner=owner)
    if unevaluable:
        _after_changes({c.run_id for c in unevaluable}, {team_id})
    return len(claimed)


def _submit_claimed(claimed: list[Call], *, owner: str) -> list[Call]:
    """Evaluate and submit the claimed calls; return those that failed before reaching a backend."""
    by_backend: dict[str, list[tuple[Call, JobSpec]]] = defaultdict(list)
    unevaluable = []
    for call in claimed:
        try:
            spec = job_spec(call)
        except ENGINE_ERRORS as exc:
            _finish_failed(call, f"could not evaluate the task: {exc}", rc=None)
            unevaluable.append(call)
            continue
        try:
            _inputs_readable(call, spec)
            backend_for(call.backend).check(spec)
        except ValueError as exc:  # submitting it again would fail the same way: the call fails
            _finish_failed(call, f"cannot submit to {call.backend}: {exc}", rc=None)
            unevaluable.append(call)
            continue
        by_backend[call.backend].append((call, spec))
    # Saved before the backend sees the job, so a call adopted after a lost reply can be collected.
    calls_update(values={call.pk: dict(command=call.command, runtime=call.runtime, prepared_inputs=call.prepared_inputs)
                         for pairs in by_backend.values() for call, _ in pairs}, where={})
    for name, pairs in by_backend.items():
        pairs = _still_claimed(pairs, owner=owner)
        if pairs:
            submitted = backend_for(name).submit([spec for _, spec in pairs])
            _record_submitted([(call, sub) for (call, _), sub in zip(pairs, submitted)], owner=owner)
    return unevaluable


def _inputs_readable(call: Call, spec: JobSpec) -> None:
    """Raise ValueError for a host file the job would be given that its run may not read now: a link
    changed since submission (the sandbox binds what this check saw, moments later)."""
    readable = host_reads(call.run)
    for staged in spec.files:
        if staged.uri and "://" not in staged.uri:
            try:
                readable(staged.uri)
            except OSError as exc:
                raise ValueError(f"its input {exc}") from None


def _still_claimed(pairs, *, owner: str):
    """Keep the calls this dispatch still holds, renewing its lease first.

    Once a lease has lapsed its calls may be taken over at any moment: none of them is submitted.
    """
    if not lease_renew(owner=owner):
        log.warning("dispatch %s lost its lease before submitting: its calls are left to claims_recover", owner)
        return []
    held = set(Call.objects.filter(pk__in=[call.pk for call, _ in pairs], status=Call.Status.SUBMITTING,
                                   claimed_by=owner).values_list("pk", flat=True))
    return [(call, spec) for call, spec in pairs if call.pk in held]


def _record_submitted(pairs, *, owner: str) -> None:
    from workflows.services.polling import backend_poll_schedule  # polling builds on this module

    now = timezone.now()
    with transaction.atomic():
        # A call no longer this dispatch's (its run aborted, or its claim taken over once the lease
        # lapsed) does not need this job: stop it, unless the takeover adopted this very job.
        recorded = calls_update(
            values={call.pk: dict(status=Call.Status.SUBMITTED, backend_job_id=sub.handle, script_key=sub.script_key,
                                  **asked_fields(sub)) for call, sub in pairs},
            where=dict(status=Call.Status.SUBMITTING, claimed_by=owner))
        stray = [sub.handle for call, sub in pairs if call.pk not in recorded]
        adopted = set(Call.objects.filter(pk__in=[call.pk for call, _ in pairs], backend_job_id__in=stray)
                      .values_list("backend_job_id", flat=True)) if stray else set()
        aborted = [handle for handle in stray if handle not in adopted]
        Script.objects.bulk_create(
            [Script(run_id=call.run_id, team_id=call.team_id, bucket=sub.script_bucket, key=sub.script_key,
                    size=sub.script_size, created=now) for call, sub in pairs],
            ignore_conflicts=True,
        )
    if aborted and pairs:
        backend_for(pairs[0][0].backend).terminate(aborted)
    if pairs:
        backend_poll_schedule(pairs[0][0].backend)


# ---- failed calls: retried while maxRetries allows -------------------------------------

def next_attempt(call: Call, *, run_root: str) -> Call:
    """Return the unsaved, queued next attempt of a call, in a directory of its own."""
    attempt = call.attempt + 1
    return Call(run_id=call.run_id, team_id=call.team_id, project_id=call.project_id, backend=call.backend,
                call_id=call.call_id, fqn=call.fqn, task=call.task, shard_index=call.shard_index,
                attempt=attempt, inputs=call.inputs, call_dir=call_dir(run_root, call.call_id, attempt))


def _finish_failed(call: Call, reason: str, *, rc: int | None, preempted: bool = False, spent=None) -> None:
    """Fail a call attempt: queue the next attempt while maxRetries allows, else fail for good.

    An attempt whose host was reclaimed (preempted) is retried on its own budget, never on maxRetries.
    """
    now = timezone.now()
    with transaction.atomic():
        status, reason = attempt_outcome(call, reason, preempted=preempted)
        if status != Call.Status.FAILED:
            updated = Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
                status=status, return_code=rc, failure=reason, ended=now, **(spent or {}))
            if updated:
                Call.objects.bulk_create([next_attempt(call, run_root=call.run.root)], ignore_conflicts=True)
        else:
            Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
                status=Call.Status.FAILED, return_code=rc, failure=reason, ended=now, **(spent or {}))


def _after_changes(run_ids, team_ids) -> None:
    """Step the runs whose calls changed and refill the teams' freed slots right away."""
    from workflows.tasks import run_advance_task, team_dispatch_task

    for run_id in run_ids:
        run_advance_task.delay(str(run_id))
    for team_id in team_ids:
        team_dispatch_task.delay(team_id)


# ---- abort ---------------------------------------------------------------------------

def queued_calls_stop(run: Run) -> int:
    """Stop the run's calls still waiting for a slot (they will never start); return how many."""
    return Call.objects.filter(run=run, status=Call.Status.QUEUED).update(status=Call.Status.ABORTED,
                                                                          ended=timezone.now())


def run_abort_finish(*, run_id) -> None:
    """Terminate every active job of an aborting run; end it Aborted once none is in flight."""
    run = Run.objects.filter(pk=run_id, status=Run.Status.ABORTING).first()
    if run is None:
        return
    queued_calls_stop(run)
    active = list(Call.objects.filter(run=run, status__in=(Call.Status.SUBMITTED, Call.Status.RUNNING)))
    by_backend = defaultdict(list)
    for call in active:
        by_backend[call.backend].append(call.backend_job_id)
    for name, handles in by_backend.items():
        backend_for(name).terminate(handles)
    # A call a concurrent poll just finished keeps its real ending.
    Call.objects.filter(pk__in=[c.pk for c in active], status__in=Call.ACTIVE).update(
        status=Call.Status.ABORTED, ended=timezone.now())
    with transaction.atomic():
        if not Call.objects.filter(run=run, status=Call.Status.SUBMITTING).exists() and Run.objects.filter(
                pk=run.pk, status=Run.Status.ABORTING).update(status=Run.Status.ABORTED, ended=timezone.now()):
            run_end_notify(run_id=run.pk)
    _enqueue_dispatch(run.team_id)
