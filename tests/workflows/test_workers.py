"""Real Celery worker processes against the test database: crashes lose nothing, caps hold under races."""
import os
import random
import threading
import time
from pathlib import Path

import pytest
from django.db.models import Count

from teams.models import Membership
from teams.services import membership_set, project_create, team_create
from tests.runs import Eager, drive, submit
from tests.workers import beat, running, services_env, wait_until, worker
from workflows.models import Call, Run

pytestmark = pytest.mark.django_db(transaction=True)

SCATTER = """version 1.0
workflow wf {
  input { Int n  Float pause }
  scatter (i in range(n)) { call t { input: i = i, pause = pause } }
  output { Array[Int] out = t.out }
}
task t {
  input { Int i  Float pause }
  command <<<
    echo "start ~{i}" >> started
    sleep ~{pause}
    echo ~{i}
  >>>
  output { Int out = read_int(stdout()) }
}
"""


@pytest.fixture
def services(tmp_path):
    return services_env(tmp_path)


def test_killing_the_worker_five_times_loses_no_call_and_runs_none_twice(services, project, alice, team, tmp_path):
    env, logs = services
    team.max_running_jobs = 16
    team.save()
    the_worker = worker(env, logs / "worker.log", concurrency=2)
    with running(the_worker, beat(env, logs / "beat.log")):
        run = submit(project, alice, SCATTER, {"wf.n": 200, "wf.pause": 0.2})
        rng = random.Random(20261124)
        for _ in range(5):
            time.sleep(rng.uniform(0.5, 2.0))
            the_worker.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            the_worker.start()
        status = wait_until(lambda: (s := Run.objects.get(pk=run.pk).status) in Run.TERMINAL and s,
                            timeout=240, interval=0.2, message="the run ending")
    run.refresh_from_db()
    assert status == "Succeeded", run.failures
    assert run.outputs == {"wf.out": list(range(200))}
    # A start appends to its own call directory's `started` (a sandboxed call can write nowhere else).
    starts = [line for path in Path(run.root).glob("call-t/shard-*/attempt-*/execution/started")
              for line in path.read_text().splitlines()]
    assert len(starts) == 200
    assert sorted(starts) == sorted(f"start {i}" for i in range(200))
    assert len(list(Path(run.root).glob("call-t/shard-*/attempt-*/execution/rc"))) == 200
    assert Call.objects.filter(run=run).count() == 200
    assert Call.objects.filter(run=run, status=Call.Status.SUCCEEDED, attempt=1).count() == 200


def test_four_racing_workers_never_exceed_any_teams_cap(services, alice, tmp_path):
    env, logs = services
    caps = {"a": 3, "b": 5, "c": 8}
    runs = []
    for slug, cap in caps.items():
        team = team_create(name=f"Team {slug}", slug=slug, max_running_jobs=cap)
        membership_set(team=team, user=alice, role=Membership.Role.ADMIN)
        project = project_create(team=team, name="P", slug="p")
        runs.append(submit(project, alice, SCATTER, {"wf.n": 100, "wf.pause": 0.1}))
    peaks = {slug: 0 for slug in caps}
    over = []
    stop = threading.Event()

    def sample():
        from django.db import connections

        while not stop.is_set():
            counts = dict(Call.objects.filter(status__in=Call.ACTIVE).order_by().values_list("team__slug")
                          .annotate(n=Count("pk")))
            for slug, n in counts.items():
                peaks[slug] = max(peaks[slug], n)
                if n > caps[slug]:
                    over.append((slug, n))
            time.sleep(0.01)
        connections.close_all()

    sampler = threading.Thread(target=sample)
    # No beat: freed slots must be refilled as calls finish, not on a schedule.
    with running(worker(env, logs / "worker.log", concurrency=4)):
        sampler.start()
        try:
            wait_until(lambda: not Run.objects.exclude(status__in=Run.TERMINAL).exists(), timeout=400,
                       interval=0.2, message="all runs ending")
        finally:
            stop.set()
            sampler.join()
    assert over == []
    assert peaks == caps  # every team used all its slots, and never more
    assert set(Run.objects.values_list("status", flat=True)) == {"Succeeded"}
    assert Call.objects.count() == 300


def production_timing(env: dict) -> dict:
    """Undo services_env's short submit timeout and fast tick: recovery must come from leases."""
    return {**env, "BATCHSITE_SUBMIT_TIMEOUT": "120", "BATCHSITE_TICK_SECONDS": "3"}


HELD_SETSID = """#!/bin/bash
# The real setsid starts the jobs; the launcher a worker runs (setsid --fork bash -c ...) then
# holds its return until released, once: that worker is stuck between starting its jobs and
# recording them, where a SIGKILL leaves its claims in SUBMITTING.
/usr/bin/setsid "$@"
rc=$?
if [ "$3" = "-c" ] && mkdir "$SETSID_HOLD/held" 2>/dev/null; then
  while [ ! -e "$SETSID_HOLD/release" ]; do sleep 0.05; done
fi
exit $rc
"""


def test_a_worker_killed_mid_dispatch_frees_its_teams_slots_within_15_s_and_runs_each_job_once(
        services, project, alice, team, tmp_path):
    env, logs = services
    team.max_running_jobs = 4
    team.save()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "setsid").write_text(HELD_SETSID)
    (tmp_path / "bin" / "setsid").chmod(0o755)
    hold = tmp_path / "hold"
    hold.mkdir()
    env = {**production_timing(env), "PATH": f"{tmp_path / 'bin'}:{env['PATH']}", "SETSID_HOLD": str(hold)}
    first, second = worker(env, logs / "first.log", name="first"), worker(env, logs / "second.log", name="second")
    with running(first, beat(env, logs / "beat.log")):
        run = submit(project, alice, SCATTER, {"wf.n": 8, "wf.pause": 1})
        wait_until((hold / "held").exists, timeout=60, message="the first worker launching its jobs")
        stuck = list(Call.objects.filter(run=run, status=Call.Status.SUBMITTING))
        second.start()
        first.kill()
        killed = time.monotonic()
        (hold / "release").touch()
        try:
            assert [(c.backend_job_id, bool(c.claimed_by and c.claimed)) for c in stuck] == [("", True)] * 4
            wait_until(lambda: not Call.objects.filter(pk__in=[c.pk for c in stuck],
                                                       status=Call.Status.SUBMITTING).exists(),
                       timeout=15, interval=0.1, message="the dead worker's claims being taken over")
            freed = time.monotonic() - killed
            # The slots are used again: the calls waiting for them go out.
            wait_until(lambda: Call.objects.filter(run=run, status=Call.Status.QUEUED).count() < 4,
                       timeout=max(15 - freed, 1), interval=0.1, message="a waiting call taking a freed slot")
            status = wait_until(lambda: (s := Run.objects.get(pk=run.pk).status) in Run.TERMINAL and s,
                                timeout=120, interval=0.2, message="the run ending")
        finally:
            second.stop()
    run.refresh_from_db()
    assert status == "Succeeded", run.failures
    assert freed < 15
    assert run.outputs == {"wf.out": list(range(8))}
    starts = [line for path in Path(run.root).glob("call-t/shard-*/attempt-*/execution/started")
              for line in path.read_text().splitlines()]
    assert sorted(starts) == sorted(f"start {i}" for i in range(8))
    assert len(list(Path(run.root).glob("call-t/shard-*/attempt-*/execution/launch"))) == 8
    assert Call.objects.filter(run=run).count() == 8
    assert Call.objects.filter(run=run, status=Call.Status.SUCCEEDED, attempt=1).count() == 8
    # Its jobs had started: they were adopted, by the directory each runs in, not started again.
    adopted = Call.objects.filter(pk__in=[c.pk for c in stuck])
    assert all(c.backend_job_id == f"{c.call_dir}/execution" for c in adopted)


GATED = """version 1.0
workflow wf {
  input { File gate }
  call t { input: gate = gate }
  output { String out = t.out }
}
task t {
  input { File gate }
  command <<<
    # The gate is bound read-only into the sandbox: the test opens it by writing to the same file.
    until grep -q open ~{gate}; do sleep 0.05; done
    echo opened
  >>>
  output { String out = read_string(stdout()) }
}
"""


def test_a_worker_killed_while_holding_the_next_poll_stalls_polling_for_at_most_a_tick(
        services, project, alice, tmp_path):
    env, logs = services
    env = production_timing(env)
    gate = tmp_path / "gate"
    gate.write_text("closed\n")
    first, second = worker(env, logs / "first.log", name="first"), worker(env, logs / "second.log", name="second")
    with running(first, beat(env, logs / "beat.log")):
        run = submit(project, alice, GATED, {"wf.gate": str(gate)})
        wait_until(lambda: Call.objects.filter(run=run, status=Call.Status.RUNNING).exists(), timeout=60,
                   message="the job running")
        time.sleep(0.5)  # polled every 0.1 s meanwhile: the only worker holds the next poll, or runs it
        first.kill()
        second.start()
        try:
            wait_until(lambda: " ready." in (logs / "second.log").read_text(), timeout=60,
                       message="the second worker starting")
            with open(gate, "r+") as f:  # in place: the sandbox's bind mount shows the same file
                f.write("open\n")  # the job ends within 0.05 s
            opened = time.monotonic()
            wait_until(lambda: Call.objects.filter(run=run, status=Call.Status.SUCCEEDED).exists(), timeout=30,
                       interval=0.05, message="a poll seeing the job end")
            waited = time.monotonic() - opened
            wait_until(lambda: Run.objects.get(pk=run.pk).status in Run.TERMINAL, timeout=30, interval=0.1,
                       message="the run ending")
        finally:
            second.stop()
    assert waited < 3 + 1.5  # the next tick (every 3 s) polls again, then polls follow every 0.1 s
    run.refresh_from_db()
    assert run.status == "Succeeded" and run.outputs == {"wf.out": "opened"}


STUCK = """version 1.0
workflow stuck {
  input { File f }
  String never = read_string(f)
  output { String out = never }
}
"""


def test_a_step_that_kills_its_worker_three_times_fails_its_run_saying_so(services, project, alice, tmp_path):
    env, logs = services
    the_worker = worker(env, logs / "worker.log", concurrency=1)
    with running(the_worker, beat(env, logs / "beat.log")):
        fifo = tmp_path / "never-written"
        os.mkfifo(fifo)
        run = submit(project, alice, STUCK, {"stuck.f": str(fifo)})
        # Opening a pipe nobody writes blocks in C, where the step's budget cannot reach it: the
        # worker's hard time limit (or the kernel, for memory) kills such a step, as here.
        for killed in range(1, 4):
            wait_until(lambda: Run.objects.get(pk=run.pk).killed_steps >= killed, timeout=180,
                       message=f"step {killed} starting")
            time.sleep(0.5)
            the_worker.kill()
            the_worker.start()
        status = wait_until(lambda: (s := Run.objects.get(pk=run.pk).status) in Run.TERMINAL and s,
                            timeout=180, message="the run ending")
    run.refresh_from_db()
    assert status == "Failed"
    assert "stepping the run's workflow killed its worker 3 times (the hard time limit of 420 s" in \
        run.failures[0]["message"]


def _sessions(database: str) -> int:
    """Return how many connections to the database were ever opened (statistics flushed within a second)."""
    from django.db import connection

    time.sleep(1.5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [database])
        return cursor.fetchone()[0]


def test_a_worker_keeps_its_database_connection_between_tasks_and_replaces_one_the_server_dropped(
        services, project, alice):
    from django.db import connection

    env, logs = services
    database = connection.settings_dict["NAME"]
    with running(worker(env, logs / "worker.log", concurrency=1), beat(env, logs / "beat.log")):
        first = submit(project, alice, SCATTER, {"wf.n": 3, "wf.pause": 0})
        wait_until(lambda: Run.objects.get(pk=first.pk).status in Run.TERMINAL, timeout=60, interval=0.1,
                   message="the first run ending")
        with connection.cursor() as cursor:  # the server drops every other connection (a restart, a failover)
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = %s AND pid <> pg_backend_pid()", [database])
        before = _sessions(database)
        second = submit(project, alice, SCATTER, {"wf.n": 20, "wf.pause": 0}, name="wf2")
        status = wait_until(lambda: (s := Run.objects.get(pk=second.pk).status) in Run.TERMINAL and s,
                            timeout=60, interval=0.1, message="the second run ending")
        opened = _sessions(database) - before
    assert Run.objects.get(pk=first.pk).status == status == "Succeeded"
    assert opened < 5, opened  # with a connection per task: about 20


def test_steps_killed_now_and_then_do_not_add_up_once_a_step_ends(project, alice):
    with Eager():
        run = submit(project, alice, SCATTER, {"wf.n": 3, "wf.pause": 0})
        Run.objects.filter(pk=run.pk).update(killed_steps=2)  # two workers killed while stepping it, then none
        run = drive(run)
    assert run.status == Run.Status.SUCCEEDED and run.killed_steps == 0
