"""Following jobs on Batch: batched polling, exit codes and reasons, aborts, logs, files."""
import os
import time
from datetime import date, timedelta

import pytest

from workflows.backends import JobState
from workflows.backends.base import StagedFile
from workflows.backends.aws_batch import workspace as workspace_module

SPOT = "Host EC2 (instance i-0123456789abcdef0) terminated."
OOM = "OutOfMemoryError: Container killed due to memory usage"


def describe_sizes(aws) -> list[int]:
    return [len(body["jobs"]) for body in aws.emulator.calls("describejobs")]


def test_polling_asks_describe_jobs_for_at_most_100_ids(aws):
    aws.emulator.run_jobs = False
    specs = [aws.spec(f"bs-abc-{i}-a1", "true") for i in range(250)]
    submitted = aws.backend.submit(specs)

    states = aws.backend.poll({s.handle: spec.call_dir for s, spec in zip(submitted, specs)})

    assert describe_sizes(aws) == [100, 100, 50]
    assert len(states) == 250


def test_an_array_job_is_read_from_its_parents_summary_and_only_moved_children_are_fetched(aws):
    aws.emulator.run_jobs = False
    specs = [aws.spec(f"bs-abc-{i}-a1", "true", call=f"call-align/shard-{i}") for i in range(250)]
    handles = {s.handle: spec.call_dir for s, spec in zip(aws.backend.submit(specs), specs)}

    aws.backend.poll(handles)
    first = describe_sizes(aws)
    aws.backend.poll(handles)  # nothing moved since

    assert first == [1, 100, 100, 50]  # the parent, then its children because their summary moved
    assert describe_sizes(aws)[len(first):] == [1]


def test_a_job_batch_calls_succeeded_is_not_a_success_without_its_rc_file(aws):
    aws.emulator.run_jobs = False  # moto: SUCCEEDED at once, and nothing ran
    spec = aws.spec("bs-abc-1-a1", "true")
    [sub] = aws.backend.submit([spec])

    [state] = aws.backend.poll({sub.handle: spec.call_dir}).values()

    assert state.status == JobState.DONE and state.rc is None
    assert "succeeded without writing rc" in state.reason


def test_a_failing_command_is_done_with_its_return_code(aws):
    spec = aws.spec("bs-abc-1-a1", "echo bad >&2; exit 3")
    [sub] = aws.backend.submit([spec])

    states = aws.wait_done({sub.handle: spec.call_dir})

    assert states[sub.handle] == JobState(JobState.DONE, rc=3)
    assert aws.backend.read_log(sub.handle, spec.call_dir, "stderr", 0) == ("bad\n", 4)


def test_queued_and_running_jobs_say_so(aws):
    spec = aws.spec("bs-abc-1-a1", "sleep 30")
    [sub] = aws.backend.submit([spec])

    first = aws.backend.poll({sub.handle: spec.call_dir})[sub.handle]
    aws.emulator.wait_running(sub.handle)
    later = aws.backend.poll({sub.handle: spec.call_dir})[sub.handle]

    assert first.status == JobState.QUEUED and later.status == JobState.RUNNING


@pytest.mark.parametrize("status_reason, container_reason, expected", [
    (SPOT, "", "Spot reclaims it (Host EC2 (instance i-0123456789abcdef0) terminated.)"),
    ("Essential container in task exited", OOM, "ran out of memory (OutOfMemoryError"),
])
def test_a_spot_reclaim_or_an_oom_kill_is_a_clear_reason_and_keeps_the_log(aws, status_reason, container_reason, expected):
    spec = aws.spec("bs-abc-1-a1", "echo working; sleep 60")
    [sub] = aws.backend.submit([spec])
    aws.emulator.wait_running(sub.handle)
    deadline = time.monotonic() + 30
    while "working" not in aws.backend.read_log(sub.handle, spec.call_dir, "log", 0)[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)

    aws.emulator.interrupt(sub.handle, status_reason=status_reason, container_reason=container_reason)
    state = aws.wait_done({sub.handle: spec.call_dir})[sub.handle]

    assert state.rc is None and expected in state.reason
    assert "working" in aws.read(f"{spec.call_dir}/execution/log")  # archived: the job could not


def test_terminating_every_child_terminates_the_parent_once(aws):
    specs = [aws.spec(f"bs-abc-{i}-a1", "sleep 60", call=f"call-nap/shard-{i}") for i in range(3)]
    handles = [s.handle for s in aws.backend.submit(specs)]

    aws.backend.terminate(handles)

    parent = handles[0].split(":")[0]
    assert [body["jobId"] for body in aws.emulator.calls("terminatejob")] == [parent]
    assert [child.status for child in aws.emulator.wait(parent).children] == ["FAILED"] * 3


def test_terminating_some_children_leaves_their_siblings_running(aws):
    specs = [aws.spec(f"bs-abc-{i}-a1", "sleep 60", call=f"call-nap/shard-{i}") for i in range(3)]
    handles = [s.handle for s in aws.backend.submit(specs)]
    aws.emulator.wait_running(handles[2])

    aws.backend.terminate(handles[:2])

    assert [body["jobId"] for body in aws.emulator.calls("terminatejob")] == handles[:2]
    states = aws.wait_done({h: s.call_dir for h, s in zip(handles[:2], specs)})
    assert all("Aborted in Batchsite" in state.reason for state in states.values())
    assert aws.backend.poll({handles[2]: specs[2].call_dir})[handles[2]].status == JobState.RUNNING


def test_the_log_is_tailed_with_forward_tokens_then_read_from_its_archive(aws):
    spec = aws.spec("bs-abc-1-a1", "echo first; sleep 2; echo second")
    [sub] = aws.backend.submit([spec])
    aws.emulator.wait_running(sub.handle)

    text, token, deadline = "", 0, time.monotonic() + 30
    pieces = []
    while "second" not in text:
        assert time.monotonic() < deadline
        piece, token = aws.backend.read_log(sub.handle, spec.call_dir, "log", token)
        pieces.append(piece)
        text += piece
        time.sleep(0.1)
    aws.wait_done({sub.handle: spec.call_dir})
    archived, end = aws.backend.read_log(sub.handle, spec.call_dir, "log", 0)

    assert isinstance(token, str)  # CloudWatch's forward token
    assert text.count("first") == 1 and text.index("first") < text.index("second")
    assert any("first" in p and "second" not in p for p in pieces)  # seen before the job wrote more
    assert archived == aws.read(f"{spec.call_dir}/execution/log") and "first\n" in archived
    assert end == len(archived.encode())
    assert aws.backend.read_log(sub.handle, spec.call_dir, "stdout", 0) == ("first\nsecond\n", 13)
    assert aws.backend.read_log(sub.handle, spec.call_dir, "stdout", 13) == ("", 13)


def test_a_job_logging_to_its_own_log_group_is_tailed_and_archived_from_that_group(aws):
    spec = aws.spec("bs-abc-1-a1", "echo working; sleep 60", runtime={"logGroupName": "/batchsite/genomics"})
    [sub] = aws.backend.submit([spec])
    aws.emulator.wait_running(sub.handle)
    deadline = time.monotonic() + 30
    while "working" not in (tail := aws.backend.read_log(sub.handle, spec.call_dir, "log", 0)[0]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [stream] = aws.logs.describe_log_streams(logGroupName="/batchsite/genomics")["logStreams"]

    aws.emulator.interrupt(sub.handle, status_reason=SPOT)
    state = aws.wait_done({sub.handle: spec.call_dir})[sub.handle]

    assert tail.endswith("running the command\nworking\n")
    assert f"CloudWatch /batchsite/genomics {stream['logStreamName']}" in state.reason
    assert "working" in aws.read(f"{spec.call_dir}/execution/log")  # archived from the task's own group


def test_inputs_in_s3_are_downloaded_and_written_files_shipped_in_the_script(aws):
    aws.s3.put_object(Bucket="batchsite-runs", Key="data/sample.txt", Body=b"ACGT\n")
    for name in ("a", "b"):
        aws.s3.put_object(Bucket="batchsite-runs", Key=f"data/reads/{name}.fq", Body=name.encode())
    call_dir = f"{aws.root}/wf/run-1/call-count/attempt-1"
    with aws.backend.workspace(call_dir) as space:
        sample = space.job_path("s3://batchsite-runs/data/sample.txt")
        reads = space.job_path("s3://batchsite-runs/data/reads")
        listing = os.path.join(space.work_dir, "write_", "names.txt")
        os.makedirs(os.path.dirname(listing))
        with open(listing, "w") as f:
            f.write("a\nb\n")
        names = space.job_path(listing)
        files = space.staged()
        with pytest.raises(ValueError, match="not in S3"):
            space.job_path("/home/alice/local.txt")
    spec = aws.spec("bs-abc-1-a1", f"cat {sample} > out.txt; ls {reads} >> out.txt; cat {names} >> out.txt",
                    call="call-count", files=files)

    [sub] = aws.backend.submit([spec])

    assert aws.wait_done({sub.handle: call_dir})[sub.handle] == JobState(JobState.DONE, rc=0)
    assert aws.read(f"{call_dir}/execution/out.txt") == "ACGT\na.fq\nb.fq\na\nb\n"
    assert StagedFile(job_path=names, content=b"a\nb\n") in files
    assert sample.endswith("/batchsite-runs/data/sample.txt")


def test_a_finished_calls_workspace_holds_what_the_job_left(aws, monkeypatch):
    monkeypatch.setattr(workspace_module, "FETCH_LIMIT", 10)
    spec = aws.spec("bs-abc-1-a1", "echo small > small.txt; head -c 100 /dev/zero > big.bin; mkdir d; echo x > d/x")
    [sub] = aws.backend.submit([spec])
    aws.wait_done({sub.handle: spec.call_dir})

    with aws.backend.workspace(spec.call_dir, finished=True) as space:
        work_dir = space.work_dir
        small = open(os.path.join(work_dir, "small.txt")).read()
        big = os.path.getsize(os.path.join(work_dir, "big.bin"))
        stored = space.stored_path(os.path.join(work_dir, "d", "x"))
        present = sorted(os.listdir(work_dir))

    assert small == "small\n" and big == 100  # the big one stands in at its size, not downloaded
    assert stored == f"{spec.call_dir}/execution/d/x"
    assert present == ["big.bin", "d", "rc", "small.txt", "stderr", "stdout"]
    assert not os.path.exists(work_dir)  # scratch space goes when the workspace closes


def test_definitions_unused_for_long_are_deregistered(aws):
    aws.emulator.run_jobs = False
    aws.backend.submit([aws.spec("bs-abc-1-a1", "true", runtime={"docker": "old:1"}),
                        aws.spec("bs-abc-2-a1", "true", runtime={"docker": "new:1"})])
    definitions = {d["containerProperties"]["image"]: d["jobDefinitionArn"]
                   for d in aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]}
    aws.batch.tag_resource(resourceArn=definitions["old:1"],
                           tags={"batchsite:last-used": (date.today() - timedelta(days=40)).isoformat()})

    gone = aws.backend.deregister_unused(older_than_days=30)

    assert gone == [definitions["old:1"]]
    active = aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert [d["jobDefinitionArn"] for d in active] == [definitions["new:1"]]
