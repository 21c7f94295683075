"""Stepping a run: the only place that steps a workflow.

The engine works outside any transaction, within the team's limits and the site's time and
memory budget, so that no lock another team needs is held while it evaluates. What it produced
is written in one short transaction, and only if no other step of the run and no abort came
first; an abort also stops a step that is under way, within about a second. A lease per run keeps
a second worker from stepping the same run at the same time, which would only waste it.
"""
import contextlib
import fcntl
import functools
import hashlib
import os
from datetime import timedelta
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Min
from django.db.models.functions import Length
from django.utils import timezone

from notifications.services import run_end_notify
from workflows import engine
from workflows.backends import backend_for
from workflows.models import Call, Run, Subworkflow
from workflows.services import caching
from workflows.services.execution import (
    ADVANCEABLE, ENGINE_ERRORS, _enqueue_dispatch, call_dir, queued_calls_stop,
)
from workflows.services.limits import host_reads
from workflows.services.versions import document_for

# What fails the run, with its message, when stepping raises it.
STEP_ERRORS = (*ENGINE_ERRORS, engine.LimitError)
_TRIES = 3
MAX_KILLED_STEPS = 3  # a run whose steps kill their worker so often in a row fails rather than kill it forever
FEED_WAIT_SECONDS = 2
FEED_WAIT_BYTES_PER_SECOND = 100_000  # a 3 MB state (10,000 shards) is fed by time every 30 s


class _Lost(Exception):
    """Another step of the run was written first: this one's work is dropped and the step done again."""


def run_advance(*, run_id) -> None:
    """Feed the engine every call that finished since last time, save it once, queue new calls."""
    with _lease(run_id) as held:
        if not held:
            return  # another worker steps the run now; the calls it did not see, the beat's tick brings back
        for _ in range(_TRIES):
            try:
                if not _advance(run_id):
                    return
            except _Lost:
                continue
    # Still more to do: the beat's tick steps the run again.


def run_stepping(*, run_id) -> bool:
    """Tell whether another process is stepping the run now."""
    with _lease(run_id) as held:
        return not held


@contextlib.contextmanager
def _lease(run_id):
    """Yield whether this process now holds the run's step lease; a process that dies lets it go."""
    key = int.from_bytes(hashlib.blake2b(str(run_id).encode(), digest_size=8).digest(), "big", signed=True)
    if connection.vendor == "postgresql":  # a session lock, held by no transaction
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            held = cursor.fetchone()[0]
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    elif connection.vendor == "sqlite":  # one host: a byte of one lock file per run
        offset = key & (2**62 - 1)
        try:
            fcntl.lockf(_lock_file(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            held = True
        except OSError:
            held = False
        try:
            yield held
        finally:
            if held:
                fcntl.lockf(_lock_file(), fcntl.LOCK_UN, 1, offset)
    else:
        yield True  # the version check in _write still keeps two steps from both being saved


@functools.cache
def _lock_file() -> int:
    # Opened once per process and never closed: closing a descriptor of it would drop all its locks.
    return os.open(settings.VAR_DIR / "step-leases.lock", os.O_RDWR | os.O_CREAT, 0o600)


def _advance(run_id) -> bool:
    """Step the run once; return whether finished calls are waiting for another step."""
    unfed = Call.objects.filter(run_id=run_id, status=Call.Status.SUCCEEDED, fed=False)
    waiting = unfed.aggregate(count=Count("pk"), oldest=Min("ended"))  # most advances stop at this
    # The saved state (MBs for a wide scatter) is read only for a step that is worth it (_step).
    run = (Run.objects.select_related("version", "team").defer("engine_state")
           .annotate(state_bytes=Length("engine_state")).filter(pk=run_id).first())
    if run is None or run.status not in ADVANCEABLE:
        return False
    if run.failures or Call.objects.filter(run=run, status=Call.Status.FAILED).exists():
        _fail(run_id)
        return False
    first = run.state_bytes is None
    if not first and not waiting["count"]:
        return False  # nothing happened since the last step
    if not first and not _worth_a_step(run_id, **waiting, state_bytes=run.state_bytes):
        return False  # the beat's tick comes back for them
    if run.killed_steps >= MAX_KILLED_STEPS:
        _fail(run_id, message=f"stepping the run's workflow killed its worker {run.killed_steps} times (the "
                              f"hard time limit of {settings.BATCHSITE_STEP_SECONDS + 120:g} s, or out of memory)")
        return False
    # Counted before the step and cleared once a step ends, whatever its outcome: only steps killed one after
    # another add up (a step that kills its worker does so every time; a restart or a crash elsewhere, once).
    Run.objects.filter(pk=run_id).update(killed_steps=F("killed_steps") + 1)
    # The finished calls are read before the state: a step written in between then shows as a call
    # already fed when this one is written, and this one is done again (see _write).
    finished = list(unfed.values_list("pk", "call_id", "outputs"))
    fed = [pk for pk, _, _ in finished]
    try:
        task_calls, saved, outputs, subworkflows = engine.within_budget(
            functools.partial(_step, run, [(call_id, outputs) for _, call_id, outputs in finished]),
            seconds=settings.BATCHSITE_STEP_SECONDS, memory_bytes=settings.BATCHSITE_STEP_MEMORY_BYTES,
            should_stop=functools.partial(_stopped, run_id))
    except engine.Interrupted:
        return False  # aborted while stepping: the abort ends the run
    except SoftTimeLimitExceeded:  # Celery's backstop, for a step the budget could not stop
        _fail(run_id, message=f"stepping the run's workflow took longer than the site's budget of "
                              f"{settings.BATCHSITE_STEP_SECONDS:g} s (BATCHSITE_STEP_SECONDS)")
        return False
    except MemoryError:
        _fail(run_id, message="stepping the run's workflow ran out of memory")
        return False
    except STEP_ERRORS as exc:
        _fail(run_id, message=str(exc))
        return False
    finally:
        Run.objects.filter(pk=run_id).update(killed_steps=0)
    _write(run, first=first, fed=fed, task_calls=task_calls,
           saved=saved, outputs=outputs, subworkflows=subworkflows)
    return Call.objects.filter(run_id=run_id, status=Call.Status.SUCCEEDED, fed=False).exists()


def _worth_a_step(run_id, *, count: int, oldest, state_bytes: int) -> bool:
    """Tell whether the finished calls (count of them, the oldest ending) are worth a step now.

    A step loads and saves the whole state, whose size grows with the run: the calls that finish
    are fed once as many wait as are still to finish (a scatter of N calls then takes about
    log2(N) steps, not one per poll), or once one has waited FEED_WAIT_SECONDS, longer for a
    bigger state (a call whose successors must not wait for a long scatter beside it, without a
    step that takes seconds after every other). The last ones are fed at once.
    """
    if count >= Call.objects.filter(run_id=run_id, status__in=(Call.Status.QUEUED, *Call.ACTIVE)).count():
        return True
    wait = max(FEED_WAIT_SECONDS, state_bytes / FEED_WAIT_BYTES_PER_SECOND)
    return oldest is None or timezone.now() - oldest > timedelta(seconds=wait)


def _step(run: Run, finished: list[tuple[str, dict]]) -> tuple[list[engine.TaskCall], bytes, dict | None,
                                                               list[engine.SubworkflowCall]]:
    """Load the run's state, feed it the finished calls and save it; touches no database row."""
    doc = document_for(run.version)
    backend = backend_for(run.backend)
    options = dict(localize=functools.partial(backend.localize, into=f"{_engine_dir(run)}/fetched"),
                   publish=functools.partial(backend.publish, under=run.root),
                   limits=engine.Limits(max_calls=run.team.limit("max_calls_per_run"),
                                        max_state_bytes=run.team.limit("max_engine_state_bytes")),
                   readable=host_reads(run, _engine_dir(run)))
    if run.engine_state is None:
        state = engine.EngineState.start(doc, run.inputs, run_dir=_engine_dir(run), **options)
    else:
        state = engine.EngineState.loads(doc, bytes(run.engine_state), **options)
    task_calls = state.advance(finished)
    return task_calls, state.dumps(), state.outputs if state.done else None, state.subworkflows


def _stopped(run_id) -> bool:
    """Tell whether the run is no longer to be stepped; asked from the budget's watcher thread."""
    try:
        return Run.objects.filter(pk=run_id).exclude(status__in=ADVANCEABLE).exists()
    finally:
        connection.close()  # the watcher thread's own connection


def _write(run: Run, *, first: bool, fed: list[int], task_calls: list[engine.TaskCall], saved: bytes,
           outputs: dict | None, subworkflows: list[engine.SubworkflowCall]) -> None:
    """Save a step's state and new calls, unless the run stopped or another step was saved meanwhile."""
    with transaction.atomic():
        status = Run.objects.select_for_update(no_key=True).filter(pk=run.pk).values_list("status", flat=True).first()
        if status not in ADVANCEABLE:
            return  # aborted (or failed) while this step ran: an abort wins
        if first and Run.objects.filter(pk=run.pk, engine_state__isnull=False).exists():
            raise _Lost
        # Every finished call this step was fed must still be unfed, or another step fed it first.
        if fed and Call.objects.filter(pk__in=fed, fed=False).update(fed=True) != len(fed):
            raise _Lost
        pending = bool(task_calls) and caching.calls_pending(run)  # looked up before dispatch (caching.py)
        Call.objects.bulk_create(
            [Call(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                  call_id=c.id, fqn=c.fqn, task=c.task, shard_index=c.shard_index, inputs=c.inputs,
                  call_dir=call_dir(run.root, c.id, 1), cache_pending=pending)
             for c in task_calls],
            ignore_conflicts=True, batch_size=1000,
        )
        _subworkflows_write(run, subworkflows)
        fields = {"engine_state": saved}
        if status == Run.Status.SUBMITTED:
            fields.update(status=Run.Status.RUNNING, started=timezone.now())
        if outputs is not None:
            fields.update(status=Run.Status.SUCCEEDED, outputs=outputs, ended=timezone.now())
            run_end_notify(run_id=run.pk)
        Run.objects.filter(pk=run.pk).update(**fields)
        if task_calls:
            _enqueue_dispatch(run.team_id)


def subworkflow_id(run_id, call_id: str) -> uuid.UUID:
    """Return the API id of a run's subworkflow call: the same whenever it is derived."""
    return uuid.uuid5(run_id, call_id)


def _subworkflows_write(run: Run, subworkflows: list[engine.SubworkflowCall]) -> None:
    """Record the subworkflow calls a step started, then the outputs of those it finished."""
    now = timezone.now()
    Subworkflow.objects.bulk_create(
        [Subworkflow(id=subworkflow_id(run.pk, s.id), run=run, team_id=run.team_id, call_id=s.id, fqn=s.fqn,
                     name=s.name, shard_index=s.shard_index, inputs=s.inputs, started=now,
                     parent_id=subworkflow_id(run.pk, s.id.rpartition("/")[0]) if "/" in s.id else None)
         for s in subworkflows if s.outputs is None],
        ignore_conflicts=True, batch_size=1000,
    )
    Subworkflow.objects.bulk_update(
        [Subworkflow(id=subworkflow_id(run.pk, s.id), outputs=s.outputs, ended=now)
         for s in subworkflows if s.outputs is not None], ["outputs", "ended"], batch_size=500)


def _engine_dir(run: Run) -> str:
    """Return a local directory for files workflow expressions write (write_lines() and kin)."""
    if "://" in run.root:  # an object store root: written here, then published under the root
        return str(settings.BATCHSITE_RUN_FILES / str(run.pk))
    return run.root


def _fail(run_id, message: str = "") -> None:
    """Fail a run that is still being stepped: by the message, else by its failed calls or first failure."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id, status__in=ADVANCEABLE).first()
        if run is None:
            return  # aborted meanwhile
        failed = [] if message else list(Call.objects.filter(run=run, status=Call.Status.FAILED).order_by("ended")[:20])
        if not message and not failed and run.failures:
            message = run.failures[0]["message"]
        _run_fail(run, failed, message=message)


def _run_fail(run: Run, failed: list[Call], message: str = "") -> None:
    """Stop new calls of a failing run; it ends Failed once its active calls are done (NoNewCalls)."""
    queued_calls_stop(run)
    failures = [{"message": message, "causedBy": []}] if message else [
        {"message": f"{c.fqn}{f'[{c.shard_index}]' if c.shard_index >= 0 else ''} failed: {c.failure}",
         "causedBy": []} for c in failed
    ]
    run.failures = failures
    fields = ["failures"]
    if not Call.objects.filter(run=run, status__in=Call.ACTIVE).exists():
        run.status, run.ended = Run.Status.FAILED, timezone.now()
        fields += ["status", "ended"]
        run_end_notify(run_id=run.pk)
    run.save(update_fields=fields)
