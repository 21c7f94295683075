"""Submission, advance, dispatch under the caps, poll and abort, in this process."""
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models.functions import Now

from teams.models import AuditEvent
from teams.services import project_create
from tests.conftest import ALICE_ROLE_2, CAROL_ROLE
from tests.runs import Eager, drive, submit
from workflows.backends import backend_for
from workflows.backends.local import LocalBackend
from workflows.models import Call, Lease, Run
from workflows.services import (
    backend_poll, backends_poll, run_abort, run_advance, run_submit, team_dispatch, workflow_create,
)
from workflows.services.execution import _claim, _submit_claimed, job_spec
from workflows.services.leases import poll_mark
from workflows.services.polling import claims_recover

SCATTER = """version 1.0
workflow wf {
  input { Int n  String cmd = "true" }
  scatter (i in range(n)) { call t { input: i = i, cmd = cmd } }
  output { Array[Int] out = t.out }
}
task t {
  input { Int i  String cmd }
  command <<< ~{cmd}; echo ~{i} >>>
  output { Int out = read_int(stdout()) }
}
"""


@pytest.fixture
def version(project, alice):
    return workflow_create(project=project, name="wf", source=SCATTER.encode(), user=alice).versions.get()


def statuses(run) -> dict:
    return {s: Call.objects.filter(run=run, status=s).count() for s in Call.Status.values
            if Call.objects.filter(run=run, status=s).exists()}


# ---- submission --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field, message", [
    ({"inputs": {"wf.n": "three"}}, "inputs", "wf.n"),
    ({"inputs": {"wf.n": 1, "wf.nosuch": 2}}, "inputs", "wf.nosuch"),
    ({"inputs": {}}, "inputs", "wf.n: required input is missing"),
    ({"inputs": '{"wf.n": 1,}'}, "inputs", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 12"),
    ({"inputs": "[1, 2]"}, "inputs", "must be a JSON object"),
    ({"inputs": {"wf.n": 1}, "options": "{oops"}, "options", "not valid JSON"),
    ({"inputs": {"wf.n": 1}, "options": {"aws_batch_job_role_arn": CAROL_ROLE}}, "aws_batch_job_role_arn",
     "is not on team genomics's allowlist"),
    ({"inputs": {"wf.n": 1}, "options": {"aws_batch_job_role_arn": "arn:aws:iam::1:role/x"}},
     "aws_batch_job_role_arn", "is not an IAM role ARN"),
    ({"inputs": {"wf.n": 1}, "options": {"aws_batch_script_bucket_prefix": "teams/other/"}},
     "aws_batch_script_bucket_prefix", "is not under team genomics's prefix root"),
    ({"inputs": {"wf.n": 1}, "options": {"aws_batch_script_bucket_prefix": "teams/genomics/../x"}},
     "aws_batch_script_bucket_prefix", "must not contain '..'"),
    ({"inputs": {"wf.n": 1}, "options": {"backend": "NoSuch"}}, "backend", 'no provider named "NoSuch"'),
    ({"inputs": {"wf.n": 1}, "labels": {"k": 3}}, "labels", "must have a string value"),
])
def test_bad_submissions_name_the_problem_and_write_no_run(version, alice, kwargs, field, message):
    with pytest.raises(ValidationError) as exc_info:
        run_submit(version=version, user=alice, **kwargs)
    assert any(message in m for m in exc_info.value.message_dict[field]), exc_info.value.message_dict
    assert not Run.objects.exists() and not AuditEvent.objects.exists()


def test_a_run_stores_the_resolved_prefix_role_and_backend_and_is_audited(version, alice):
    run = run_submit(version=version, user=alice, inputs={"wf.n": 1},
                     options={"aws_batch_job_role_arn": ALICE_ROLE_2, "aws_batch_script_bucket_prefix": "teams/genomics/x",
                              "unknown_cromwell_option": True})
    assert (run.script_prefix, run.job_role_arn, run.backend, run.status) == (
        "teams/genomics/x/", ALICE_ROLE_2, "Local", "Submitted")
    assert run.options["unknown_cromwell_option"] is True  # kept and ignored, as Cromwell does
    event = AuditEvent.objects.get()
    assert (event.action, event.user, event.details["role_arn"], event.details["script_prefix"]) == (
        "submit", alice, ALICE_ROLE_2, "teams/genomics/x/")
    assert event.details["version_sha256"] == version.sha256


def test_max_queued_jobs_refuses_a_submission_past_the_limit(version, alice, team):
    team.max_queued_jobs = 3
    team.save()
    run_advance(run_id=run_submit(version=version, user=alice, inputs={"wf.n": 3}).pk)
    with pytest.raises(ValidationError, match="already has 3 calls waiting"):
        run_submit(version=version, user=alice, inputs={"wf.n": 1})


# ---- advance -----------------------------------------------------------------------

def test_advance_twice_writes_each_call_once(version, alice):
    run = run_submit(version=version, user=alice, inputs={"wf.n": 25})
    run_advance(run_id=run.pk)
    run_advance(run_id=run.pk)
    assert Call.objects.filter(run=run).count() == 25
    assert sorted(Call.objects.filter(run=run).values_list("shard_index", flat=True)) == list(range(25))
    run.refresh_from_db()
    assert run.status == "Running" and run.engine_state


# ---- dispatch under the caps -------------------------------------------------------

def queued_run(version, user, n):
    run = run_submit(version=version, user=user, inputs={"wf.n": n})
    run_advance(run_id=run.pk)
    return run


def active(**filters) -> int:
    return Call.objects.filter(status__in=Call.ACTIVE, **filters).count()


def test_dispatch_never_exceeds_the_team_cap_and_repeats_harmlessly(version, alice, team):
    team.max_running_jobs = 3
    team.save()
    run = queued_run(version, alice, 10)
    assert team_dispatch(team_id=team.pk) == 3
    assert team_dispatch(team_id=team.pk) == 0
    assert active(team=team) == 3
    assert statuses(run) == {"queued": 7, "submitted": 3}


def test_a_local_dispatch_sends_a_batch_and_leaves_the_other_free_slots_to_another_dispatch(
        version, alice, team, monkeypatch):
    monkeypatch.setattr(LocalBackend, "dispatch_batch", 4)  # 32: over this team's cap and the provider's limit
    team.max_running_jobs = 6
    team.save()
    run = queued_run(version, alice, 10)
    sent = []
    monkeypatch.setattr("workflows.services.execution._enqueue_dispatch", sent.append)

    assert team_dispatch(team_id=team.pk) == 4
    assert sent == [team.pk]  # the other 2 free slots go to another worker's dispatch meanwhile
    assert team_dispatch(team_id=team.pk) == 2
    assert sent == [team.pk]  # the cap stopped this one, not a batch: nothing more to send
    assert statuses(run) == {"queued": 4, "submitted": 6}


def test_a_project_cap_narrows_the_team_cap(alice, team):
    narrow = project_create(team=team, name="Narrow", slug="narrow", max_running_jobs=2)
    version = workflow_create(project=narrow, name="wf", source=SCATTER.encode(), user=alice).versions.get()
    queued_run(version, alice, 6)
    assert team_dispatch(team_id=team.pk) == 2
    assert active(project=narrow) == 2


def test_the_providers_concurrent_job_limit_spans_teams(version, alice, team, carol, other_team):
    # The built-in Local provider allows 16 jobs at once across all teams.
    team.max_running_jobs = 12
    team.save()
    other_team.max_running_jobs = 12
    other_team.save()
    other = workflow_create(project=project_create(team=other_team, name="P", slug="p"), name="wf",
                            source=SCATTER.encode(), user=carol).versions.get()
    queued_run(version, alice, 12)
    queued_run(other, carol, 12)
    assert team_dispatch(team_id=team.pk) == 12
    assert team_dispatch(team_id=other_team.pk) == 4
    assert active() == 16


def test_queued_calls_go_out_oldest_run_first(version, alice, team):
    team.max_running_jobs = 3
    team.save()
    older = queued_run(version, alice, 2)
    newer = queued_run(version, alice, 2)
    team_dispatch(team_id=team.pk)
    assert active(run=older) == 2 and active(run=newer) == 1


def test_a_team_at_its_cap_never_delays_another_team(version, alice, team, carol, other_team):
    team.max_running_jobs = 1
    team.save()
    other = workflow_create(project=project_create(team=other_team, name="P", slug="p"), name="wf",
                            source=SCATTER.encode(), user=carol).versions.get()
    queued_run(version, alice, 5)
    team_dispatch(team_id=team.pk)
    queued_run(other, carol, 3)
    assert team_dispatch(team_id=other_team.pk) == 3


# ---- claims of a worker that died --------------------------------------------------

def lapse(owner: str) -> None:
    """Let the owner's lease lapse, as it does 8 s after its worker dies."""
    Lease.objects.filter(owner=owner).update(expires=Now() - timedelta(seconds=1))


def test_a_claim_is_taken_over_only_once_its_workers_lease_has_lapsed_and_the_slots_are_free_again(
        version, alice, team):
    team.max_running_jobs = 3
    team.save()
    run = queued_run(version, alice, 5)
    claimed, _ = _claim(team.pk, owner="dispatch:host:1:dead")  # what a worker claims, then dies
    assert [c.claimed_by for c in claimed] == ["dispatch:host:1:dead"] * 3

    assert claims_recover(name=run.backend) == 0  # its lease is live: it may be submitting them
    assert team_dispatch(team_id=team.pk) == 0  # and the slots are its
    lapse("dispatch:host:1:dead")
    assert claims_recover(name=run.backend) == 3
    assert claims_recover(name=run.backend) == 0

    assert statuses(run) == {"queued": 5}  # nothing had been started: queued again, not failed
    assert team_dispatch(team_id=team.pk) == 3
    assert statuses(run) == {"queued": 2, "submitted": 3}


def test_jobs_a_dead_worker_started_are_adopted_not_started_again(version, alice, team, tmp_path):
    # Each start is counted in the call's own directory (the sandbox lets a job write nothing else).
    run = run_submit(version=version, user=alice, inputs={"wf.n": 3, "wf.cmd": "echo start >> starts.log"})
    run_advance(run_id=run.pk)
    claimed, _ = _claim(team.pk, owner="dispatch:host:1:dead")
    backend_for(run.backend).submit([job_spec(call) for call in claimed[:2]])  # then it died
    wait_for_files([Path(c.call_dir) / "execution" / "launch" for c in claimed[:2]])  # long before the lapse
    lapse("dispatch:host:1:dead")

    assert claims_recover(name=run.backend) == 3

    calls = {c.pk: c for c in Call.objects.filter(run=run)}
    assert sorted((calls[c.pk].status, calls[c.pk].backend_job_id) for c in claimed) == sorted(
        [("submitted", f"{c.call_dir}/execution") for c in claimed[:2]] + [("queued", "")])
    team_dispatch(team_id=team.pk)
    assert statuses(run) == {"submitted": 3}
    wait_for_files([Path(c.call_dir) / "execution" / "rc" for c in claimed])
    assert [(Path(c.call_dir) / "execution" / "starts.log").read_text() for c in claimed] == ["start\n"] * 3


def wait_for_files(paths, timeout: float = 10) -> None:
    """Wait until every file holds something (a sandboxed job's rc is an empty placeholder until it ends)."""
    def written(p: Path) -> bool:
        return p.exists() and p.stat().st_size > 0

    deadline = time.monotonic() + timeout
    while not all(written(p) for p in paths) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(written(p) for p in paths), paths


def test_a_dispatch_whose_lease_lapsed_submits_nothing(version, alice, team):
    run = queued_run(version, alice, 2)
    claimed, _ = _claim(team.pk, owner="dispatch:host:1:slow")
    lapse("dispatch:host:1:slow")  # stalled too long: its claims may be taken over at any moment

    assert _submit_claimed(claimed, owner="dispatch:host:1:slow") == []

    assert statuses(run) == {"submitting": 2}
    assert not any((Path(c.call_dir) / "execution" / "launch").exists() for c in claimed)
    assert claims_recover(name=run.backend) == 2
    assert statuses(run) == {"queued": 2}


@pytest.mark.django_db(transaction=True)
def test_a_poll_that_finds_another_poll_of_its_backend_scheduled_leaves_the_work_to_it(project, alice):
    with Eager():
        run = submit(project, alice, SCATTER, {"wf.n": 1})  # stepped and dispatched on commit; not polled
    call = Call.objects.get(run=run, status=Call.Status.SUBMITTED)
    wait_for_files([Path(call.call_dir) / "execution" / "rc"])
    cache.clear()  # no marker left by an earlier test's dispatch
    assert poll_mark(name=call.backend, token="scheduled", due_in=5)

    assert backend_poll(name=call.backend, token="late") == 0  # a second chain of polls ends here
    assert Call.objects.get(pk=call.pk).status == Call.Status.SUBMITTED
    assert backend_poll(name=call.backend, token="scheduled") == 1
    assert Call.objects.get(pk=call.pk).status == Call.Status.SUCCEEDED


# ---- whole runs, in this process ----------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_run_succeeds_and_polling_twice_is_harmless(project, alice):
    with Eager():
        run = submit(project, alice, SCATTER, {"wf.n": 5})
        run = drive(run)
        backends_poll()
        backends_poll()
    assert run.status == "Succeeded" and run.outputs == {"wf.out": [0, 1, 2, 3, 4]}
    assert Call.objects.filter(run=run).count() == 5
    call = Call.objects.filter(run=run).first()
    assert Path(call.call_dir).match(f"*/wf/{run.pk}/call-t/shard-*/attempt-1")
    # tmp: the sandboxed command's HOME and TMPDIR
    assert sorted(os.listdir(Path(call.call_dir) / "execution")) == ["launch", "rc", "script", "stderr", "stdout", "tmp"]


@pytest.mark.django_db(transaction=True)
def test_abort_kills_every_process_and_nothing_queued_starts(project, alice, team):
    """How long it takes is bench/local_abort.py's figure: this holds what happens, with room for a loaded host."""
    team.max_running_jobs = 3
    team.save()
    with Eager():
        run = submit(project, alice, SCATTER, {"wf.n": 8, "wf.cmd": "sleep 600"})
        run = drive(run, until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).count() == 3)
        pids = [int((Path(c.call_dir) / "execution" / "launch").read_text())
                for c in Call.objects.filter(run=run, status=Call.Status.RUNNING)]
        assert run_abort(run=run, user=alice)
        run = drive(run)
    assert run.status == "Aborted"
    deadline = time.monotonic() + 60
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists(), f"job process {pid} still alive"
    assert statuses(run) == {"aborted": 8}
    never_started = Call.objects.filter(run=run).exclude(backend_job_id__in=[""]).count()
    assert never_started == 3
    assert not any((Path(c.call_dir) / "execution").exists() for c in Call.objects.filter(run=run, backend_job_id=""))
    assert run_abort(run=run, user=alice) is False
    assert AuditEvent.objects.filter(action="abort").count() == 1


def test_a_job_the_abort_stopped_is_aborted_not_failed_or_retried_when_a_poll_sees_it_end_first(project, alice):
    wdl = """version 1.0
workflow wf { call nap }
task nap {
  command <<< sleep 60 >>>
  runtime { maxRetries: 2 }
}
"""
    with Eager():
        run = drive(submit(project, alice, wdl),
                    until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).exists())
    call = Call.objects.get(run=run)
    assert run_abort(run=run, user=alice)  # the run is Aborting; its abort task has not run yet
    backend_for(call.backend).terminate([call.backend_job_id])  # what that task does first

    deadline = time.monotonic() + 10
    while Call.objects.get(pk=call.pk).status == Call.Status.RUNNING and time.monotonic() < deadline:
        backends_poll()  # a poll that sees the job end before the abort task records it
        time.sleep(0.1)

    assert list(Call.objects.filter(run=run).values_list("attempt", "status")) == [(1, Call.Status.ABORTED)]


@pytest.mark.django_db(transaction=True)
def test_a_failed_call_fails_the_run_with_its_stderr_tail(project, alice):
    wdl = """version 1.0
workflow wf { call bad }
task bad { command <<< echo "something broke" >&2; exit 3 >>> }
"""
    with Eager():
        run = drive(submit(project, alice, wdl))
    assert run.status == "Failed"
    call = Call.objects.get(run=run)
    assert (call.status, call.return_code) == ("failed", 3)
    assert "return code 3" in call.failure and "something broke" in call.failure
    assert "wf.bad failed" in run.failures[0]["message"]


@pytest.mark.django_db(transaction=True)
def test_max_retries_runs_new_attempts_in_their_own_directories(project, alice):
    wdl = """version 1.0
workflow wf { call flaky }
task flaky {
  command <<< case "$PWD" in */attempt-3/execution) echo ok ;; *) exit 1 ;; esac >>>
  output { String out = read_string(stdout()) }
  runtime { maxRetries: 3 }
}
"""
    with Eager():
        run = drive(submit(project, alice, wdl))
    assert run.status == "Succeeded" and run.outputs == {"wf.flaky.out": "ok"}
    attempts = list(Call.objects.filter(run=run).order_by("attempt").values_list("attempt", "status"))
    assert attempts == [(1, "retried"), (2, "retried"), (3, "succeeded")]
    dirs = Call.objects.filter(run=run).values_list("call_dir", flat=True)
    assert sorted(Path(d).name for d in dirs) == ["attempt-1", "attempt-2", "attempt-3"]


def test_a_nul_character_in_inputs_or_labels_is_refused_by_name(version, alice):
    with pytest.raises(ValidationError, match="NUL character"):
        run_submit(version=version, user=alice, inputs={"wf.n": 1, "wf.cmd": "echo \x00"})
    with pytest.raises(ValidationError) as exc_info:
        run_submit(version=version, user=alice, inputs={"wf.n": 1}, labels={"k": "a\x00b"})
    assert "labels" in exc_info.value.message_dict
    assert not Run.objects.exists()
