"""Stepping runs, dispatching calls under the caps, and taking in what the backends report.

Every function here is safe to run twice and in several workers at once: rows are claimed
with conditional updates or under row locks, and nothing is sent to a backend inside a
transaction.
"""
import contextlib
import functools
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from teams.models import Project, Team
from workflows import engine
from workflows.backends import JobSpec, JobState, backend_for, provider_for
from workflows.models import Call, Run, Script
from workflows.services import caching
from workflows.services.versions import document_for

log = logging.getLogger(__name__)

ADVANCEABLE = (Run.Status.SUBMITTED, Run.Status.RUNNING)
# A saved state from another miniwdl version fails to load with ValueError.
ENGINE_ERRORS = (engine.EvalError, engine.OutputError, engine.InputError, ValueError)


def _submit_timeout() -> timedelta:
    return timedelta(seconds=getattr(settings, "BATCHSITE_SUBMIT_TIMEOUT", 120))


# ---- advance: the only place that steps a workflow --------------------------------------

def run_advance(*, run_id) -> None:
    """Feed the engine every call that finished since last time, save it once, queue new calls."""
    new_calls = False
    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("version").filter(pk=run_id).first()
        if run is None or run.status not in ADVANCEABLE:
            return
        calls = Call.objects.filter(run=run)
        failed = list(calls.filter(status=Call.Status.FAILED).order_by("ended")[:20])
        if failed or run.failures:
            _run_fail(run, failed, message="" if failed else run.failures[0]["message"])
            return
        finished = list(calls.filter(status=Call.Status.SUCCEEDED, fed=False).values_list("pk", "call_id", "outputs"))
        doc = document_for(run.version)
        backend = backend_for(run.backend)
        files = dict(localize=functools.partial(backend.localize, into=f"{_engine_dir(run)}/fetched"),
                     publish=functools.partial(backend.publish, under=run.root))
        if run.engine_state is None:
            state = engine.EngineState.start(doc, run.inputs, run_dir=_engine_dir(run), **files)
        else:
            state = engine.EngineState.loads(doc, bytes(run.engine_state), **files)
        try:
            task_calls = state.advance((call_id, outputs) for _, call_id, outputs in finished)
        except ENGINE_ERRORS as exc:
            _run_fail(run, [], message=str(exc))
            return
        pending = bool(task_calls) and caching.calls_pending(run)
        Call.objects.bulk_create(
            [Call(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                  call_id=c.id, fqn=c.fqn, task=c.task, shard_index=c.shard_index, inputs=c.inputs,
                  call_dir=call_dir(run.root, c.id, 1), cache_pending=pending)
             for c in task_calls],
            ignore_conflicts=True, batch_size=1000,
        )
        new_calls = bool(task_calls)
        if finished:
            Call.objects.filter(pk__in=[pk for pk, _, _ in finished]).update(fed=True)
        run.engine_state = state.dumps()
        fields = ["engine_state"]
        if run.status == Run.Status.SUBMITTED:
            run.status, run.started = Run.Status.RUNNING, timezone.now()
            fields += ["status", "started"]
        if state.done:
            run.status, run.outputs, run.ended = Run.Status.SUCCEEDED, state.outputs, timezone.now()
            fields += ["status", "outputs", "ended"]
        run.save(update_fields=fields)
        if new_calls:
            _enqueue_dispatch(run.team_id)


def _engine_dir(run: Run) -> str:
    """Return a local directory for files workflow expressions write (write_lines() and kin)."""
    if "://" in run.root:  # an object store root: written here, then published under the root
        return str(settings.BATCHSITE_RUN_FILES / str(run.pk))
    return run.root


def _run_fail(run: Run, failed: list[Call], message: str = "") -> None:
    """Stop new calls of a failing run; it ends Failed once its active calls are done (NoNewCalls)."""
    Call.objects.filter(run=run, status=Call.Status.QUEUED).update(status=Call.Status.ABORTED, ended=timezone.now())
    failures = [{"message": message, "causedBy": []}] if message else [
        {"message": f"{c.fqn}{f'[{c.shard_index}]' if c.shard_index >= 0 else ''} failed: {c.failure}",
         "causedBy": []} for c in failed
    ]
    run.failures = failures
    fields = ["failures"]
    if not Call.objects.filter(run=run, status__in=Call.ACTIVE).exists():
        run.status, run.ended = Run.Status.FAILED, timezone.now()
        fields += ["status", "ended"]
    run.save(update_fields=fields)


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
    from workflows.tasks import dispatch_team

    dispatch_team.delay_on_commit(team_id)


def _lock_provider(name: str) -> None:
    # The provider's concurrent-job-limit spans teams: serialise claims per provider.
    # (SQLite's IMMEDIATE transactions already serialise every writer.)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"batchsite-provider:{name}"])


def _claim(team_id: int) -> list[Call]:
    """Mark as many of the team's oldest queued calls SUBMITTING as every cap allows."""
    with transaction.atomic():
        backends = list(Call.objects.filter(team_id=team_id, status=Call.Status.QUEUED)
                        .order_by().values_list("backend", flat=True).distinct())
        for name in sorted(backends):
            _lock_provider(name)
        team = Team.objects.select_for_update().filter(pk=team_id).first()
        if team is None:
            return []
        free = team.max_running_jobs - Call.objects.filter(team=team, status__in=Call.ACTIVE).count()
        if free <= 0 or not backends:
            return []
        project_free = {
            p.pk: p.max_running_jobs - p.active
            for p in Project.objects.filter(team=team, max_running_jobs__isnull=False).annotate(
                active=Count("runs__calls", filter=Q(runs__calls__status__in=Call.ACTIVE)))
        }
        backend_free = {}
        for name in backends:
            limit = provider_for(name).concurrent_job_limit
            if limit is not None:
                backend_free[name] = limit - Call.objects.filter(backend=name, status__in=Call.ACTIVE).count()
        chosen = []
        candidates = (Call.objects.filter(team=team, status=Call.Status.QUEUED, run__status__in=ADVANCEABLE,
                                          cache_pending=False)
                      .order_by("run__submitted", "pk").values_list("pk", "project_id", "backend"))
        for pk, project_id, backend in candidates[: free + 10_000]:
            if len(chosen) >= free:
                break
            if project_free.get(project_id, 1) <= 0 or backend_free.get(backend, 1) <= 0:
                continue
            chosen.append(pk)
            if project_id in project_free:
                project_free[project_id] -= 1
            if backend in backend_free:
                backend_free[backend] -= 1
        if not chosen:
            return []
        Call.objects.filter(pk__in=chosen, status=Call.Status.QUEUED).update(
            status=Call.Status.SUBMITTING, claimed=timezone.now()
        )
        return list(Call.objects.filter(pk__in=chosen, status=Call.Status.SUBMITTING)
                    .select_related("run__version", "team"))


def job_spec(call: Call) -> JobSpec:
    """Evaluate a call's command and runtime with the engine and describe the job to run."""
    run = call.run
    doc = document_for(run.version)
    with backend_for(call.backend).workspace(call.call_dir) as workspace:
        prepared = engine.prepare(doc, call.task, call.inputs, work_dir=workspace.work_dir,
                                  map_path=workspace.job_path, localize=workspace.localize)
        files = workspace.staged()
    call.command, call.runtime, call.prepared_inputs = prepared.command, prepared.runtime, prepared.inputs
    return JobSpec(
        name=job_name(call), call_dir=call.call_dir, command=prepared.command, runtime=prepared.runtime,
        script_prefix=run.script_prefix, job_role_arn=run.job_role_arn, files=files,
        registry_credential_arn=call.team.registry_credential_arn,
        tags={"batchsite:run": str(run.pk), "batchsite:call": f"{call.call_id}/attempt-{call.attempt}",
              "batchsite:team": str(call.team_id)},
    )


def job_name(call: Call) -> str:
    """Return the deterministic job name of a call attempt (found again after a lost reply)."""
    return f"bs-{call.run_id.hex[:12]}-{call.pk}-a{call.attempt}"


def team_dispatch(*, team_id: int) -> int:
    """Submit the team's queued calls that fit under its caps; return how many went out."""
    caching.lookup_team(team_id=team_id)  # hits end here, taking no slot
    claimed = _claim(team_id)
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
            backend_for(call.backend).check(spec)
        except ValueError as exc:  # submitting it again would fail the same way: the call fails
            _finish_failed(call, f"cannot submit to {call.backend}: {exc}", rc=None)
            unevaluable.append(call)
            continue
        by_backend[call.backend].append((call, spec))
    # Saved before the backend sees the job, so a call adopted after a lost reply can be collected.
    # (Row by row in one transaction: bulk_update's CASE expressions cost more than the round trips.)
    with transaction.atomic():
        for pairs in by_backend.values():
            for call, _ in pairs:
                Call.objects.filter(pk=call.pk).update(command=call.command, runtime=call.runtime,
                                                       prepared_inputs=call.prepared_inputs)
    for name, pairs in by_backend.items():
        submitted = backend_for(name).submit([spec for _, spec in pairs])
        _record_submitted([(call, sub) for (call, _), sub in zip(pairs, submitted)])
    if unevaluable:
        _after_changes({c.run_id for c in unevaluable}, {team_id})
    return len(claimed)


def _record_submitted(pairs) -> None:
    now = timezone.now()
    with transaction.atomic():
        # A call aborted while it was being submitted is no longer SUBMITTING: stop its job.
        aborted = [sub.handle for call, sub in pairs if not Call.objects.filter(
            pk=call.pk, status=Call.Status.SUBMITTING).update(
                status=Call.Status.SUBMITTED, backend_job_id=sub.handle, script_key=sub.script_key)]
        Script.objects.bulk_create(
            [Script(run_id=call.run_id, team_id=call.team_id, bucket=sub.script_bucket, key=sub.script_key,
                    size=sub.script_size, created=now) for call, sub in pairs],
            ignore_conflicts=True,
        )
    if aborted and pairs:
        backend_for(pairs[0][0].backend).terminate(aborted)
    if pairs:
        poll_soon(pairs[0][0].backend)


# ---- poll: one batched status query per backend per cycle -----------------------------

def poll_soon(name: str) -> None:
    """Poll the backend again shortly, unless a poll of it is already pending."""
    from workflows.tasks import poll_backend

    if current_app.conf.task_always_eager:
        return  # run_wdl's loop polls by itself
    interval = backend_for(name).poll_seconds
    # The marker outlives a lost poll task only briefly: then the beat's tick schedules another.
    if cache.add(f"poll-pending:{name}", 1, timeout=max(10, 4 * interval)):
        poll_backend.apply_async((name,), countdown=interval)


def backend_poll(*, name: str) -> int:
    """Poll one backend now and keep polling it while it has active jobs."""
    cache.delete(f"poll-pending:{name}")
    ended = _poll_backend(name)
    if Call.objects.filter(backend=name, status__in=Call.ACTIVE).exists():
        poll_soon(name)
    return ended


def backends_poll() -> int:
    """Ask every backend about its active calls and take in those that changed; return how many ended."""
    ended = 0
    names = Call.objects.filter(status__in=Call.ACTIVE).order_by().values_list("backend", flat=True).distinct()
    for name in list(names):
        ended += _poll_backend(name)
    return ended


def _poll_backend(name: str) -> int:
    backend = backend_for(name)
    calls = list(Call.objects.filter(backend=name, status__in=(Call.Status.SUBMITTED, Call.Status.RUNNING))
                 .select_related("run__version"))
    states = backend.poll({c.backend_job_id: c.call_dir for c in calls}) if calls else {}
    now = timezone.now()
    started = [c.pk for c in calls if c.status == Call.Status.SUBMITTED
               and states[c.backend_job_id].status in (JobState.RUNNING, JobState.DONE)]
    if started:
        Call.objects.filter(pk__in=started, status=Call.Status.SUBMITTED).update(status=Call.Status.RUNNING, started=now)
    done = [(c, states[c.backend_job_id]) for c in calls if states[c.backend_job_id].status == JobState.DONE]
    threads = min(backend.collect_threads, len(done))
    for version in {call.run.version_id: call.run.version for call, _ in done}.values():
        document_for(version)  # parsed here, once: the threads below only read it
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        # Where the backend's files are remote, outcomes are worked out concurrently; rows are
        # written here, in this thread, as each outcome arrives.
        outcomes = (pool.map if pool else map)(lambda pair: call_outcome(*pair), done)
        for (call, state), outcome in zip(done, outcomes):
            call_finish(call=call, state=state, outcome=outcome)
    _reconcile_submitting(name)
    if done:
        _after_changes({c.run_id for c, _ in done}, {c.team_id for c, _ in done})
    return len(done)


def _reconcile_submitting(name: str) -> None:
    """Resolve calls stuck in SUBMITTING: adopt the job a lost reply started, else queue again."""
    stale = list(Call.objects.filter(backend=name, status=Call.Status.SUBMITTING,
                                     claimed__lt=timezone.now() - _submit_timeout()).select_related("run__version"))
    if not stale:
        return
    specs = {job_name(c): c for c in stale}
    found = backend_for(name).find([JobSpec(name=n, call_dir=c.call_dir, command="", runtime=c.runtime or {})
                                    for n, c in specs.items()])
    for name_, call in specs.items():
        if name_ in found:
            Call.objects.filter(pk=call.pk, status=Call.Status.SUBMITTING).update(
                status=Call.Status.SUBMITTED, backend_job_id=found[name_])
        else:
            Call.objects.filter(pk=call.pk, status=Call.Status.SUBMITTING).update(
                status=Call.Status.QUEUED, claimed=None)
    _after_changes({c.run_id for c in stale}, {c.team_id for c in stale})


def call_outcome(call: Call, state: JobState) -> tuple[dict | None, str]:
    """Return (outputs, "") of a finished job that succeeded, else (None, why the call failed).

    Reads the call's files and evaluates its outputs, never the database (call.run.version loaded).
    """
    runtime = call.runtime or {}
    if state.rc is None:
        return None, state.reason or "the job ended without a return code"
    backend = backend_for(call.backend)
    if not engine.return_code_ok(runtime, state.rc):
        return None, _with_stderr_tail(f"the command exited with return code {state.rc}", backend, call)
    if runtime.get("failOnStderr") and backend.read_log("", call.call_dir, "stderr", 0)[0].strip():
        return None, _with_stderr_tail("failOnStderr is set and the command wrote to stderr", backend, call)
    try:
        with backend.workspace(call.call_dir, finished=True) as workspace:
            return engine.collect(document_for(call.run.version), call.task, call.prepared_inputs,
                                  work_dir=workspace.work_dir, stdout=workspace.stdout, stderr=workspace.stderr,
                                  map_path=workspace.stored_path, localize=workspace.localize), ""
    except ENGINE_ERRORS as exc:
        return None, f"could not collect outputs: {exc}"


def call_finish(*, call: Call, state: JobState, outcome: tuple[dict | None, str]) -> None:
    """Record a finished job from its call_outcome(): its outputs on success, else fail or retry the call."""
    outputs, failure = outcome
    if outputs is None and Run.objects.filter(pk=call.run_id, status__in=(Run.Status.ABORTING,
                                                                          Run.Status.ABORTED)).exists():
        # The abort stopped its job (runs turn ABORTING before their jobs are terminated): the call
        # is aborted, not failed, and no retry of it is queued.
        Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(status=Call.Status.ABORTED,
                                                                        ended=timezone.now())
        return
    if outputs is None:
        _finish_failed(call, failure, rc=state.rc)
        return
    if Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
            status=Call.Status.SUCCEEDED, outputs=outputs, return_code=state.rc, ended=timezone.now()):
        caching.entry_write(call=call, outputs=outputs, return_code=state.rc)


def _with_stderr_tail(reason: str, backend, call: Call) -> str:
    text, _ = backend.read_log("", call.call_dir, "stderr", 0)
    tail = "\n".join(text.rstrip().splitlines()[-20:])
    return f"{reason}\n{tail}" if tail else reason


def next_attempt(call: Call, *, run_root: str) -> Call:
    """Return the unsaved, queued next attempt of a call, in a directory of its own."""
    attempt = call.attempt + 1
    return Call(run_id=call.run_id, team_id=call.team_id, project_id=call.project_id, backend=call.backend,
                call_id=call.call_id, fqn=call.fqn, task=call.task, shard_index=call.shard_index,
                attempt=attempt, inputs=call.inputs, call_dir=call_dir(run_root, call.call_id, attempt))


def _finish_failed(call: Call, reason: str, *, rc: int | None) -> None:
    """Fail a call attempt: queue the next attempt while maxRetries allows, else fail for good."""
    retries = int((call.runtime or {}).get("maxRetries", 0) or 0)
    now = timezone.now()
    with transaction.atomic():
        if call.attempt <= retries:
            updated = Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
                status=Call.Status.RETRIED, return_code=rc, failure=reason, ended=now)
            if updated:
                Call.objects.bulk_create([next_attempt(call, run_root=call.run.root)], ignore_conflicts=True)
        else:
            Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
                status=Call.Status.FAILED, return_code=rc, failure=reason, ended=now)


def _after_changes(run_ids, team_ids) -> None:
    """Step the runs whose calls changed and refill the teams' freed slots right away."""
    from workflows.tasks import advance_run, dispatch_team

    for run_id in run_ids:
        advance_run.delay(str(run_id))
    for team_id in team_ids:
        dispatch_team.delay(team_id)


# ---- abort ---------------------------------------------------------------------------

def run_abort_finish(*, run_id) -> None:
    """Terminate every active job of an aborting run; end it Aborted once none is in flight."""
    run = Run.objects.filter(pk=run_id, status=Run.Status.ABORTING).first()
    if run is None:
        return
    Call.objects.filter(run=run, status=Call.Status.QUEUED).update(status=Call.Status.ABORTED, ended=timezone.now())
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
        if not Call.objects.filter(run=run, status=Call.Status.SUBMITTING).exists():
            Run.objects.filter(pk=run.pk, status=Run.Status.ABORTING).update(
                status=Run.Status.ABORTED, ended=timezone.now())
    _enqueue_dispatch(run.team_id)


# ---- the beat's safety net -----------------------------------------------------------

def tick() -> None:
    """Restart whatever a lost message left waiting: polls, advances, aborts and dispatches."""
    from workflows.tasks import abort_run, advance_run, dispatch_team

    names = list(Call.objects.filter(status__in=Call.ACTIVE).order_by().values_list("backend", flat=True).distinct())
    if current_app.conf.task_always_eager:
        backends_poll()
    else:
        for name in names:
            poll_soon(name)
    for run_id in Run.objects.filter(status=Run.Status.ABORTING).values_list("pk", flat=True):
        abort_run.delay(str(run_id))
    stalled = Run.objects.filter(status__in=ADVANCEABLE).filter(
        Q(engine_state__isnull=True) | Q(calls__status=Call.Status.SUCCEEDED, calls__fed=False)
        | Q(calls__status=Call.Status.FAILED) | ~Q(failures=[])
    ).order_by().values_list("pk", flat=True).distinct()
    for run_id in list(stalled):
        advance_run.delay(str(run_id))
    waiting = Call.objects.filter(status=Call.Status.QUEUED).order_by().values_list("team_id", flat=True).distinct()
    for team_id in list(waiting):
        dispatch_team.delay(team_id)
