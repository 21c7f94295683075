"""Real Celery worker processes against the test database: crashes lose nothing, caps hold under races."""
import random
import threading
import time
from pathlib import Path

import pytest
from django.db.models import Count

from teams.models import Membership
from teams.services import membership_set, project_create, team_create
from tests.runs import submit
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
