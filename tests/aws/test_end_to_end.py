"""A run on AWS Batch from submission to outputs: the real engine, database and backend, emulated compute."""
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from batchsite.celery import app as celery_app
from tests.conftest import ALICE_ROLE
from tests.workers import beat, running, services_env, wait_until, worker
from workflows.backends import backend_for
from workflows.models import Call, Run, Script
from workflows.services import backends_poll, run_abort, run_advance, run_submit, tick, workflow_create
from workflows.services.execution import _claim, job_spec

SCATTER_GATHER = b"""version 1.0

workflow gather_files {
  input {
    Array[String] parts = ["one", "two", "three"]
  }
  scatter (i in range(length(parts))) {
    call write_part { input: index = i, text = parts[i] }
  }
  call merge { input: files = write_part.part }
  output {
    Array[File] part_files = write_part.part
    File merged = merge.merged
    Int merged_lines = merge.lines
  }
}

task write_part {
  input {
    Int index
    String text
  }
  command <<<
    echo "~{text}" > part_~{index}.txt
  >>>
  output {
    File part = "part_~{index}.txt"
  }
}

task merge {
  input {
    Array[File] files
  }
  command <<<
    cat ~{sep=" " files} > merged.txt
    cat ~{write_lines(files)} | wc -l
  >>>
  output {
    File merged = "merged.txt"
    Int lines = read_int(stdout())
  }
}
"""

WIDE = b"""version 1.0
workflow wide {
  scatter (i in range(8)) { call double { input: i = i } }
  output { Array[Int] doubled = double.out }
}
task double {
  input { Int i }
  command <<< echo $(( ~{i} * 2 )) >>>
  output { Int out = read_int(stdout()) }
}
"""

SLEEPY = b"""version 1.0
workflow sleepy {
  scatter (i in range(2)) { call nap }
}
task nap { command <<< sleep 120 >>> }
"""


def drive(run: Run, *, until, timeout: float = 120, watch=None) -> Run:
    """Tick as the beat would until until(run) holds, calling watch(run) after every tick."""
    deadline = time.monotonic() + timeout
    while True:
        tick()
        run.refresh_from_db()
        if watch:
            watch(run)
        if until(run):
            return run
        assert time.monotonic() < deadline, (run.status, list(Call.objects.filter(run=run).values_list("fqn", "status", "failure")))
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_scatter_and_gather_runs_on_batch_to_its_outputs(aws, eager, project, alice):
    version = workflow_create(project=project, name="gather", source=SCATTER_GATHER).versions.get()

    run = run_submit(version=version, user=alice, inputs={})
    run = drive(run, until=lambda r: not r.is_active)

    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.root.startswith(aws.root + "/gather_files/")
    parts = run.outputs["gather_files.part_files"]
    assert [p.removeprefix(run.root) for p in parts] == [
        f"/call-write_part/shard-{i}/attempt-1/execution/part_{i}.txt" for i in range(3)]
    assert [aws.read(p) for p in parts] == ["one\n", "two\n", "three\n"]
    assert aws.read(run.outputs["gather_files.merged"]) == "one\ntwo\nthree\n"
    assert run.outputs["gather_files.merged_lines"] == 3
    # The three shards went as one array job, the gather as a single job.
    submitted = aws.emulator.calls("submitjob")
    assert sorted(body.get("arrayProperties", {}).get("size", 1) for body in submitted) == [1, 3]
    # Both, the array job too, carry the cost allocation tags and hand them to their ECS tasks.
    for body in submitted:
        assert body["propagateTags"] is True
        assert {k: body["tags"][k] for k in ("batchsite:team", "batchsite:project", "batchsite:workflow",
                                             "batchsite:run")} == {
            "batchsite:team": "genomics", "batchsite:project": "exomes", "batchsite:workflow": "gather",
            "batchsite:run": str(run.pk)}
    # Every script is under the team's prefix, recorded for cleanup, and kept in its call directory.
    scripts = list(Script.objects.filter(run=run).values_list("bucket", "key"))
    assert len(scripts) == 2 and all(b == aws.script_bucket and k.startswith("teams/genomics/") for b, k in scripts)
    assert sorted(aws.keys(aws.script_bucket)) == sorted(k for _, k in scripts)
    merge = Call.objects.get(run=run, fqn="gather_files.merge")
    assert "cat " in aws.read(f"{merge.call_dir}/execution/script")
    # The container ran under the run's role.
    definitions = aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert {d["containerProperties"]["jobRoleArn"] for d in definitions} == {ALICE_ROLE}


BIG_OUTPUTS = b"""version 1.0
workflow big {
  call write_big
  output {
    Array[String] lines = write_big.lines
    Float sized = write_big.sized
  }
}
task write_big {
  command <<<
    seq 1 50 > read.txt
    seq 1 60 > sized.txt
  >>>
  output {
    Array[String] lines = read_lines("read.txt")
    Float sized = size("sized.txt")
    File kept = "sized.txt"
  }
}
"""


@pytest.mark.django_db(transaction=True)
def test_an_output_too_big_to_fetch_ahead_is_fetched_when_read_and_only_sized_otherwise(aws, eager, project, alice,
                                                                                        monkeypatch):
    monkeypatch.setattr("workflows.backends.aws_batch.workspace.FETCH_LIMIT", 100)  # both files are bigger
    version = workflow_create(project=project, name="big", source=BIG_OUTPUTS).versions.get()

    run = drive(run_submit(version=version, user=alice, inputs={}), until=lambda r: not r.is_active)

    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs == {"big.lines": [str(i) for i in range(1, 51)], "big.sized": float(len(aws.read(
        f"{Call.objects.get(run=run).call_dir}/execution/sized.txt")))}
    gets = [path.rsplit("/", 1)[1] for method, path, _ in aws.emulator.http if method == "GET"]
    assert gets.count("read.txt") == 1 and gets.count("sized.txt") == 0


@pytest.mark.django_db(transaction=True)
def test_a_file_the_workflow_writes_is_published_under_the_run_for_any_worker_to_dispatch(aws, project, alice):
    source = (Path(__file__).parent.parent / "wdl_corpus" / "workflow_level_write" / "main.wdl").read_bytes()
    version = workflow_create(project=project, name="write", source=source).versions.get()
    run = run_submit(version=version, user=alice, inputs={})
    run_advance(run_id=run.pk)
    shutil.rmtree(settings.BATCHSITE_RUN_FILES / str(run.pk))  # the next step runs on another host

    celery_app.conf.task_always_eager = True
    try:
        run = drive(run, until=lambda r: not r.is_active)
    finally:
        celery_app.conf.task_always_eager = False

    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs["workflow_level_write.sorted_names"] == ["a", "b", "c"]
    listed = Call.objects.get(run=run).inputs["list"]
    assert listed.startswith(f"{run.root}/workflow-files/") and aws.read(listed) == "b\nc\na\n"


@pytest.mark.django_db(transaction=True)
def test_aborting_a_run_terminates_its_array_job(aws, eager, project, alice):
    version = workflow_create(project=project, name="sleepy", source=SLEEPY).versions.get()
    run = run_submit(version=version, user=alice, inputs={})
    run = drive(run, until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).count() == 2)

    run_abort(run=run)
    run = drive(run, until=lambda r: not r.is_active)

    assert run.status == Run.Status.ABORTED
    [parent] = [body for body in aws.emulator.calls("submitjob") if "arrayProperties" in body]
    terminated = [body["jobId"] for body in aws.emulator.calls("terminatejob")]
    assert len(terminated) == 1 and ":" not in terminated[0]  # the parent, once
    job = aws.emulator.wait(terminated[0])
    assert [child.status for child in job.children] == ["FAILED", "FAILED"]
    assert parent["jobName"].endswith("-x2")


@pytest.mark.django_db(transaction=True)
def test_the_team_cap_bounds_active_calls_and_the_size_of_array_jobs(aws, eager, project, alice):
    project.team.max_running_jobs = 3
    project.team.save()
    version = workflow_create(project=project, name="wide", source=WIDE).versions.get()
    active = []

    run = run_submit(version=version, user=alice, inputs={})
    run = drive(run, until=lambda r: not r.is_active,
                watch=lambda r: active.append(Call.objects.filter(run=r, status__in=Call.ACTIVE).count()))

    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs == {"wide.doubled": [0, 2, 4, 6, 8, 10, 12, 14]}
    assert max(active) == 3
    sizes = [body.get("arrayProperties", {}).get("size", 1) for body in aws.emulator.calls("submitjob")]
    assert sum(sizes) == 8 and max(sizes) <= 3


@pytest.mark.django_db(transaction=True)
def test_a_worker_sigkilled_between_submit_job_and_recording_it_is_adopted_not_resubmitted(aws, project, alice, tmp_path):
    env, logs = services_env(tmp_path)
    version = workflow_create(project=project, name="wide", source=WIDE).versions.get()
    aws.emulator.hold_reply("submitjob")  # Batch takes the job; its reply waits until the worker is dead
    the_worker = worker(env, logs / "worker.log")
    with running(the_worker, beat(env, logs / "beat.log")):
        run = run_submit(version=version, user=alice, inputs={})
        wait_until(aws.emulator.holding.is_set, timeout=60, message="SubmitJob reaching Batch")
        the_worker.kill()
        aws.emulator.release()
        calls = Call.objects.filter(run=run)
        assert [(c.status, c.backend_job_id) for c in calls] == [(Call.Status.SUBMITTING, "")] * 8
        the_worker.start()
        wait_until(lambda: Run.objects.get(pk=run.pk).status in Run.TERMINAL, timeout=120, interval=0.2,
                   message="the run ending")

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs == {"wide.doubled": [0, 2, 4, 6, 8, 10, 12, 14]}
    [submitted] = aws.emulator.calls("submitjob")  # one array job for the 8 shards, never submitted again
    listed = aws.batch.list_jobs(jobQueue=aws.queue_arn, filters=[{"name": "JOB_NAME", "values": [submitted["jobName"]]}])
    [job] = [j for j in listed["jobSummaryList"] if ":" not in j["jobId"]]  # its children share the name
    calls = Call.objects.filter(run=run)
    assert sorted(c.backend_job_id for c in calls) == [f"{job['jobId']}:{i}" for i in range(8)]
    assert {c.attempt for c in calls} == {1}


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_batch_holds_its_reply_frees_the_teams_slots_within_15_s_with_one_job_per_name(
        aws, project, alice, tmp_path):
    env, logs = services_env(tmp_path)
    env.update(BATCHSITE_SUBMIT_TIMEOUT="120", BATCHSITE_TICK_SECONDS="3")  # recovery must come from leases
    project.team.max_running_jobs = 4
    project.team.save()
    version = workflow_create(project=project, name="wide", source=WIDE).versions.get()
    aws.emulator.hold_reply("submitjob")  # Batch takes the first job; its reply waits until the worker is dead
    first, second = worker(env, logs / "first.log", name="first"), worker(env, logs / "second.log", name="second")
    with running(first, beat(env, logs / "beat.log")):
        run = run_submit(version=version, user=alice, inputs={})
        wait_until(aws.emulator.holding.is_set, timeout=60, message="SubmitJob reaching Batch")
        stuck = list(Call.objects.filter(run=run, status=Call.Status.SUBMITTING))
        second.start()
        first.kill()
        killed = time.monotonic()
        aws.emulator.release()
        try:
            assert [(c.backend_job_id, bool(c.claimed_by)) for c in stuck] == [("", True)] * 4
            wait_until(lambda: not Call.objects.filter(pk__in=[c.pk for c in stuck],
                                                       status=Call.Status.SUBMITTING).exists(),
                       timeout=15, interval=0.1, message="the dead worker's claims being taken over")
            freed = time.monotonic() - killed
            wait_until(lambda: Run.objects.get(pk=run.pk).status in Run.TERMINAL, timeout=120, interval=0.2,
                       message="the run ending")
        finally:
            second.stop()

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert freed < 15
    assert run.outputs == {"wide.doubled": [0, 2, 4, 6, 8, 10, 12, 14]}
    submitted = aws.emulator.calls("submitjob")  # the held array job was adopted, the other 4 went out after
    assert sorted(body["arrayProperties"]["size"] for body in submitted) == [4, 4]
    jobs = {}
    for body in submitted:
        listed = aws.batch.list_jobs(jobQueue=aws.queue_arn, filters=[{"name": "JOB_NAME", "values": [body["jobName"]]}])
        [jobs[body["jobName"]]] = [j["jobId"] for j in listed["jobSummaryList"] if ":" not in j["jobId"]]
    calls = Call.objects.filter(run=run)
    assert sorted(c.backend_job_id.split(":")[0] for c in calls) == sorted(list(jobs.values()) * 4)
    assert {c.attempt for c in calls} == {1}
    adopted = Call.objects.filter(pk__in=[c.pk for c in stuck])
    assert {c.backend_job_id.split(":")[0] for c in adopted} == {jobs[submitted[0]["jobName"]]}


@pytest.mark.django_db(transaction=True)
def test_a_stale_claim_is_looked_up_on_the_queue_its_task_names(aws, project, alice):
    environment = aws.batch.describe_compute_environments()["computeEnvironments"][0]["computeEnvironmentArn"]
    queue = aws.batch.create_job_queue(jobQueueName="big-memory", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment}])["jobQueueArn"]
    source = SLEEPY.replace(b"task nap {", b'task nap {\n  runtime { queueArn: "' + queue.encode() + b'" }')
    version = workflow_create(project=project, name="sleepy", source=source).versions.get()
    run = run_submit(version=version, user=alice, inputs={})
    run_advance(run_id=run.pk)
    # What a worker does up to SubmitJob, then dies: the claim committed, the reply never recorded.
    claimed, _ = _claim(project.team_id)
    specs = [job_spec(call) for call in claimed]
    for call in claimed:
        Call.objects.filter(pk=call.pk).update(runtime=call.runtime)
    backend_for(claimed[0].backend).submit(specs)
    Call.objects.filter(run=run).update(claimed=timezone.now() - timedelta(hours=1))

    backends_poll()  # the reconciling path: each stale claim is looked up by its job name

    [submitted] = aws.emulator.calls("submitjob")
    assert submitted["jobQueue"] == queue
    assert all(c.status != Call.Status.QUEUED and c.backend_job_id for c in Call.objects.filter(run=run))
    run_abort(run=run)
