"""A run's engine limits and budget as its team sees them: calls per run, saved state size, the time
and memory of one step, aborts while a step runs, and other teams going on meanwhile."""
import threading
import time

import pytest
from django.db import connection
from django.test import override_settings

from teams.services import project_create
from tests.runs import Eager, drive, submit
from tests.workers import beat, running, services_env, session_rss, wait_until, worker
from tests.workflows.test_workers import SCATTER
from workflows.models import Call, Run
from workflows.services import run_abort, run_abort_finish, run_advance, team_dispatch
from workflows.services.advance import run_stepping

NESTED = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) {
    scatter (j in range(n)) { call t { input: i = i * j } }
  }
}
task t { input { Int i } command <<< echo ~{i} >>> }
"""

# Stepping it takes seconds (about 60 µs a shard) and no call: a long step of the engine alone.
DECLARATIONS = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) { Int y = i * 2 }
  output { Int count = length(y) }
}
"""


def advance_in_thread(run_id) -> None:
    """Step a run as another worker would, on a database connection of its own."""
    try:
        run_advance(run_id=run_id)
    finally:
        connection.close()


def failure_of(run) -> str:
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED, run.status
    return "; ".join(f["message"] for f in run.failures)


@pytest.mark.django_db
def test_a_scatter_over_the_teams_call_limit_fails_naming_the_limit_and_queues_nothing(project, alice, team):
    team.max_calls_per_run = 10
    team.save()
    run = submit(project, alice, NESTED, {"wf.n": 4})  # range(4) twice: 16 calls
    run_advance(run_id=run.pk)
    message = failure_of(run)
    assert "more than 10 calls" in message and "max_calls_per_run of 10" in message
    assert not Call.objects.filter(run=run).exists()
    run = submit(project, alice, NESTED, {"wf.n": 3}, name="fits")
    run_advance(run_id=run.pk)
    assert Call.objects.filter(run=run).count() == 9


RANGE_IN_TASK = """version 1.0
workflow wf {
  input { Int n }
  call t { input: n = n }
}
task t {
  input { Int n }
  command <<< echo ~{length(range(n))} >>>
}
"""


@pytest.mark.django_db
def test_a_tasks_range_over_the_limit_fails_the_call_and_the_run_naming_the_limit(project, alice, team):
    team.max_calls_per_run = 1000
    team.save()
    with Eager():
        run = drive(submit(project, alice, RANGE_IN_TASK, {"wf.n": 100_000_000_000}))
    message = failure_of(run)
    assert "could not evaluate the task" in message and "range(100000000000) would have more than 1,000" in message
    assert "max_calls_per_run of 1,000" in message


@pytest.mark.django_db
def test_without_a_team_value_the_site_default_applies(project, alice, team, settings):
    settings.BATCHSITE_DEFAULT_LIMITS = {**settings.BATCHSITE_DEFAULT_LIMITS, "max_calls_per_run": 5}
    assert team.max_calls_per_run is None and team.limit("max_calls_per_run") == 5
    run = submit(project, alice, SCATTER, {"wf.n": 6, "wf.pause": 0})
    run_advance(run_id=run.pk)
    assert "range(6) would have more than 5 items" in failure_of(run)
    assert "max_calls_per_run of 5" in failure_of(run)


@pytest.mark.django_db
def test_a_run_whose_state_outgrows_the_teams_limit_fails_naming_it(project, alice, team):
    team.max_engine_state_bytes = 5_000
    team.save()
    run = submit(project, alice, SCATTER, {"wf.n": 100, "wf.pause": 0})
    run_advance(run_id=run.pk)
    assert "over its team's limit max_engine_state_bytes of 5,000 bytes" in failure_of(run)
    assert run.engine_state is None and not Call.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_a_run_within_its_limits_is_untouched_by_them(project, alice, team):
    team.max_calls_per_run, team.max_engine_state_bytes = 5, 200_000
    team.save()
    with Eager():
        run = drive(submit(project, alice, SCATTER, {"wf.n": 5, "wf.pause": 0}))
    assert run.status == Run.Status.SUCCEEDED and run.outputs == {"wf.out": [0, 1, 2, 3, 4]}


@pytest.mark.django_db
@pytest.mark.parametrize("budget, message", [
    (dict(BATCHSITE_STEP_SECONDS=0.3), "took longer than the site's budget of 0.3 s (BATCHSITE_STEP_SECONDS)"),
    (dict(BATCHSITE_STEP_MEMORY_BYTES=30 * 2**20),
     "needed more than the site's budget of 30 MiB of memory (BATCHSITE_STEP_MEMORY_BYTES)"),
])
def test_a_step_over_the_sites_time_or_memory_budget_fails_the_run_saying_so(project, alice, team, budget, message):
    team.max_calls_per_run = 10_000_000
    team.save()
    run = submit(project, alice, DECLARATIONS, {"wf.n": 300_000})
    began = time.monotonic()
    with override_settings(**budget):
        run_advance(run_id=run.pk)
    assert time.monotonic() - began < 60  # unbudgeted, the step would run for minutes
    assert message in failure_of(run)


@pytest.mark.django_db(transaction=True)
def test_an_abort_stops_a_step_under_way_at_once_and_nothing_waits_for_the_step(project, alice, team,
                                                                                 other_team, carol):
    team.max_calls_per_run = 10_000_000
    team.save()
    run = submit(project, alice, DECLARATIONS, {"wf.n": 3_000_000})  # minutes of stepping, unstopped
    carols = submit(project_create(team=other_team, name="P", slug="p"), carol, SCATTER,
                    {"wf.n": 2, "wf.pause": 0})
    stepping = threading.Thread(target=advance_in_thread, args=(run.pk,))
    stepping.start()
    try:
        time.sleep(1.5)
        # Neither the run's row nor another team's work waits for the engine.
        # (they share this process's interpreter with the step: in a worker they would not)
        began = time.monotonic()
        run_advance(run_id=carols.pk)
        team_dispatch(team_id=other_team.pk)
        assert time.monotonic() - began < 10
        aborted = time.monotonic()
        assert run_abort(run=run, user=alice)
        assert time.monotonic() - aborted < 5
        stepping.join(timeout=20)
        assert not stepping.is_alive()
        assert time.monotonic() - aborted < 20  # the step itself would take minutes
    finally:
        stepping.join()
    run_abort_finish(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.ABORTED and run.engine_state is None and run.failures == []
    assert Call.objects.filter(run=carols).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_being_stepped_is_left_to_that_step_and_saved_once(project, alice, team):
    team.max_calls_per_run = 10_000_000
    team.save()
    run = submit(project, alice, DECLARATIONS, {"wf.n": 30_000})
    stepping = threading.Thread(target=advance_in_thread, args=(run.pk,))
    stepping.start()
    try:
        time.sleep(1)
        assert run_stepping(run_id=run.pk)
        began = time.monotonic()
        run_advance(run_id=run.pk)  # as a second worker would: it leaves the run to the first
        assert time.monotonic() - began < 5
    finally:
        stepping.join()
    assert not run_stepping(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED and run.outputs == {"wf.count": 30_000}


@pytest.mark.django_db(transaction=True)
def test_a_scatter_of_width_100000000000_fails_in_30_s_under_1_gib_and_another_teams_run_succeeds(
        project, alice, other_team, carol, tmp_path):
    env, logs = services_env(tmp_path)
    carol_project = project_create(team=other_team, name="P", slug="p")
    the_worker = worker(env, logs / "worker.log", concurrency=2)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], session_rss(the_worker))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    with running(the_worker, beat(env, logs / "beat.log")):
        sampler.start()
        try:
            began = time.monotonic()
            wide = submit(project, alice, SCATTER, {"wf.n": 100_000_000_000, "wf.pause": 0})
            other = submit(carol_project, carol, SCATTER, {"wf.n": 3, "wf.pause": 0.2})
            wait_until(lambda: Run.objects.get(pk=wide.pk).status in Run.TERMINAL, timeout=30,
                       message="the wide run ending")
            ended_after = time.monotonic() - began
            wait_until(lambda: Run.objects.get(pk=other.pk).status in Run.TERMINAL, timeout=60,
                       message="the other team's run ending")
        finally:
            stop.set()
            sampler.join()
    message = failure_of(wide)
    assert "range(100000000000) would have more than 100,000 items" in message  # the site default
    assert "max_calls_per_run of 100,000" in message
    assert ended_after < 30
    assert 0 < peak[0] < 2**30, f"the worker used {peak[0] / 2**20:.0f} MiB"
    other.refresh_from_db()
    assert other.status == Run.Status.SUCCEEDED and other.outputs == {"wf.out": [0, 1, 2]}
    assert "database is locked" not in (logs / "worker.log").read_text()
