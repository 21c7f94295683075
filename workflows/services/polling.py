"""Polling the backends, taking over claims whose worker died, and the beat's tick.

Safe to run twice and in several workers at once, like the rest of workflows.services: rows change
with conditional updates, a backend's polls are serialised by a short-lived marker, and a claim is
taken over only once its owner's lease has lapsed.
"""
import contextlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows import engine
from workflows.backends import JobSpec, JobState, backend_for
from workflows.models import Call, Run
from workflows.services import caching
from workflows.services.bulk import calls_update
from workflows.services.cost import call_spent, price_table
from workflows.services.execution import ADVANCEABLE, ENGINE_ERRORS, _after_changes, _finish_failed, job_name
from workflows.services.leases import (
    abandoned_claims, lease_kept, lease_owner, lease_take, leases_expire, poll_held, poll_mark,
)
from workflows.services.limits import host_reads
from workflows.services.versions import document_for


# ---- poll: one batched status query per backend per cycle -----------------------------

def polled_in_place() -> bool:
    """Tell whether this process is its own worker (run_wdl runs Celery eagerly): then its loop polls
    every backend itself (tick), and nothing schedules polls, which would run at once, recursively.

    The one place where the engine's code knows of eager mode.
    """
    return current_app.conf.task_always_eager


def backend_poll_schedule(name: str, *, wait: float | None = None) -> None:
    """Poll the backend again in wait seconds (by default its poll_seconds), unless a poll of it is
    already scheduled or running."""
    from workflows.tasks import backend_poll_task

    if polled_in_place():
        return
    wait = backend_for(name).poll_seconds if wait is None else wait
    token = uuid.uuid4().hex
    if poll_mark(name=name, token=token, due_in=wait):
        backend_poll_task.apply_async((name, token), countdown=wait)


def backend_poll(*, name: str, token: str = "") -> int:
    """Poll one backend now and keep polling it while it has active jobs, a poll every poll_seconds
    (the time a poll spends taking in finished jobs counts toward the wait for the next)."""
    started = time.monotonic()
    with poll_held(name=name, token=token or uuid.uuid4().hex) as held:
        if not held:
            return 0  # another poll of it is running, or scheduled and not late yet: it carries on
        ended = _backend_poll_once(name)
    if Call.objects.filter(backend=name, status__in=Call.ACTIVE).exists():
        backend_poll_schedule(name, wait=max(0.0, backend_for(name).poll_seconds - (time.monotonic() - started)))
    return ended


def backends_poll() -> int:
    """Ask every backend about its active calls and take in those that changed; return how many ended."""
    ended = 0
    names = Call.objects.filter(status__in=Call.ACTIVE).order_by().values_list("backend", flat=True).distinct()
    for name in list(names):
        ended += _backend_poll_once(name)
    return ended


def _backend_poll_once(name: str) -> int:
    backend = backend_for(name)
    calls = list(Call.objects.filter(backend=name, status__in=(Call.Status.SUBMITTED, Call.Status.RUNNING))
                 .select_related("run__version").defer("run__engine_state"))  # MBs per row, unused here
    states = backend.poll({c.backend_job_id: c.call_dir for c in calls}) if calls else {}
    now = timezone.now()
    done = [(c, states[c.backend_job_id]) for c in calls if states[c.backend_job_id].status == JobState.DONE]
    threads = min(backend.collect_threads, len(done))
    for version in {call.run.version_id: call.run.version for call, _ in done}.values():
        document_for(version)  # parsed here, once: the threads below only read it
    with ThreadPoolExecutor(threads) if threads > 1 else contextlib.nullcontext() as pool:
        # Where the backend's files are remote, outcomes are worked out concurrently; rows are
        # written here, in this thread, as each outcome arrives.
        outcomes = list((pool.map if pool else map)(lambda pair: call_outcome(*pair), done))
    # Jobs seen running are marked so, as are those that ended since the last poll without succeeding;
    # those that succeeded are recorded started and ended at once (calls_finish).
    started = [c.pk for c in calls if c.status == Call.Status.SUBMITTED
               and states[c.backend_job_id].status == JobState.RUNNING]
    started += [c.pk for (c, _), (outputs, _) in zip(done, outcomes) if c.status == Call.Status.SUBMITTED
                and outputs is None]
    if started:
        Call.objects.filter(pk__in=started, status=Call.Status.SUBMITTED).update(status=Call.Status.RUNNING, started=now)
    calls_finish([(call, state, outcome) for (call, state), outcome in zip(done, outcomes)])
    claims_recover(name=name)
    if done:
        _after_changes({c.run_id for c, _ in done}, {c.team_id for c, _ in done})
    return len(done)


# ---- claims whose worker died ------------------------------------------------------------

def claims_recover(*, name: str) -> int:
    """Take over the backend's claims whose worker died: adopt the job a lost reply started, else queue
    the call again; return how many."""
    owner = lease_owner("recover")
    with transaction.atomic():
        # Taken over under row locks, so two sweeps never both act on one call.
        stale = list(abandoned_claims().select_for_update(skip_locked=True).filter(backend=name)
                     .values_list("pk", flat=True)[:5000])
        if not stale:
            return 0
        lease_take(owner=owner)
        Call.objects.filter(pk__in=stale).update(claimed_by=owner)
    with lease_kept(owner=owner):
        calls = list(Call.objects.filter(pk__in=stale, status=Call.Status.SUBMITTING, claimed_by=owner)
                     .select_related("run__version").defer("run__engine_state"))
        specs = {job_name(c): c for c in calls}
        found = backend_for(name).find([JobSpec(name=n, call_dir=c.call_dir, command="", runtime=c.runtime or {})
                                        for n, c in specs.items()])
        for name_, call in specs.items():
            ours = Call.objects.filter(pk=call.pk, status=Call.Status.SUBMITTING, claimed_by=owner)
            if name_ in found:
                ours.update(status=Call.Status.SUBMITTED, backend_job_id=found[name_])
            else:
                ours.update(status=Call.Status.QUEUED, claimed=None, claimed_by="")
    _after_changes({c.run_id for c in calls}, {c.team_id for c in calls})
    return len(calls)


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
                                  map_path=workspace.stored_path, localize=workspace.localize,
                                  readable=host_reads(call.run, workspace.work_dir)), ""
    except ENGINE_ERRORS as exc:
        return None, f"could not collect outputs: {exc}"


def calls_finish(finished: list[tuple[Call, JobState, tuple[dict | None, str]]]) -> None:
    """Record finished jobs as call_finish() does, those that succeeded in one statement."""
    prices = price_table()
    succeeded = {call.pk: (call, state, outputs) for call, state, (outputs, _) in finished if outputs is not None}
    now = timezone.now()
    recorded = calls_update(
        values={pk: dict(status=Call.Status.SUCCEEDED, outputs=outputs, return_code=state.rc, started=call.started or now,
                         ended=now, **call_spent(call, state, now=now, prices=prices))
                for pk, (call, state, outputs) in succeeded.items()},
        where=dict(status=Call.ACTIVE))
    caching.entries_write(calls=[call for pk, (call, state, outputs) in succeeded.items() if pk in recorded],
                          outputs={pk: (outputs, state.rc) for pk, (_, state, outputs) in succeeded.items()})
    for call, state, outcome in finished:
        if call.pk not in succeeded:
            call_finish(call=call, state=state, outcome=outcome)


def call_finish(*, call: Call, state: JobState, outcome: tuple[dict | None, str]) -> None:
    """Record a finished job from its call_outcome(): its outputs on success, else fail or retry the call."""
    outputs, failure = outcome
    spent = call_spent(call, state)
    if outputs is None and Run.objects.filter(pk=call.run_id, status__in=(Run.Status.ABORTING,
                                                                          Run.Status.ABORTED)).exists():
        # The abort stopped its job (runs turn ABORTING before their jobs are terminated): the call
        # is aborted, not failed, and no retry of it is queued.
        Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(status=Call.Status.ABORTED,
                                                                        ended=timezone.now(), **spent)
        return
    if outputs is None:
        _finish_failed(call, failure, rc=state.rc, preempted=state.preempted, spent=spent)
        return
    if Call.objects.filter(pk=call.pk, status__in=Call.ACTIVE).update(
            status=Call.Status.SUCCEEDED, outputs=outputs, return_code=state.rc, ended=timezone.now(), **spent):
        caching.entry_write(call=call, outputs=outputs, return_code=state.rc)


def _with_stderr_tail(reason: str, backend, call: Call) -> str:
    text, _ = backend.read_log("", call.call_dir, "stderr", 0)
    tail = "\n".join(text.rstrip().splitlines()[-20:])
    return f"{reason}\n{tail}" if tail else reason


# ---- the beat's safety net -----------------------------------------------------------

def tick() -> None:
    """Restart whatever a lost message or a dead worker left waiting: polls, claims, advances, aborts and
    dispatches."""
    from workflows.services.advance import run_stepping
    from workflows.tasks import claims_recover_task, run_abort_finish_task, run_advance_task, team_dispatch_task

    names = list(Call.objects.filter(status__in=Call.ACTIVE).order_by().values_list("backend", flat=True).distinct())
    if polled_in_place():
        backends_poll()
    else:
        for name in names:
            backend_poll_schedule(name)
        for name in list(abandoned_claims().order_by().values_list("backend", flat=True).distinct()):
            claims_recover_task.delay(name)
    leases_expire()
    for run_id in Run.objects.filter(status=Run.Status.ABORTING).values_list("pk", flat=True):
        run_abort_finish_task.delay(str(run_id))
    stalled = Run.objects.filter(status__in=ADVANCEABLE).filter(
        Q(engine_state__isnull=True) | Q(calls__status=Call.Status.SUCCEEDED, calls__fed=False)
        | Q(calls__status=Call.Status.FAILED) | ~Q(failures=[])
    ).order_by().values_list("pk", flat=True).distinct()
    for run_id in list(stalled):
        if not run_stepping(run_id=run_id):  # a long step is no lost message: its worker carries on
            run_advance_task.delay(str(run_id))
    waiting = Call.objects.filter(status=Call.Status.QUEUED).order_by().values_list("team_id", flat=True).distinct()
    for team_id in list(waiting):
        team_dispatch_task.delay(team_id)
