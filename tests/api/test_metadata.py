"""Metadata in Cromwell's shape: calls by fully qualified name, shards and attempts, filters, subworkflows."""
import io
import json
import zipfile

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.api.conftest import HELLO, json_body, submit, upload
from tests.runs import Eager, drive
from workflows.models import Call, Run

pytestmark = pytest.mark.django_db(transaction=True)

SCATTER = b"""version 1.0
workflow fan {
  input { Int n = 3  Int seconds = 0 }
  scatter (i in range(n)) { call work { input: i = i, seconds = seconds } }
  output { Array[Int] doubled = work.doubled }
}
task work {
  input { Int i  Int seconds }
  command <<< sleep ~{seconds}; echo $(( ~{i} * 2 )) >>>
  output { Int doubled = read_int(stdout()) }
}
"""
FAILING = b"""version 1.0
workflow flaky {
  call boom
}
task boom {
  command <<< echo "going down" >&2; exit 3 >>>
  runtime { maxRetries: 1 }
}
"""
SUB_MAIN = b"""version 1.0
import "inner.wdl" as inner
workflow outer {
  scatter (x in ["a", "b"]) { call inner.shout { input: word = x } }
  output { Array[String] loud = shout.loud }
}
"""
SUB_INNER = """version 1.0
workflow shout {
  input { String word }
  call upper { input: word = word }
  output { String loud = upper.out }
}
task upper {
  input { String word }
  command <<< echo ~{word} | tr a-z A-Z >>>
  output { String out = read_string(stdout()) }
}
"""


def _run(client, headers, wdl, inputs=None, **parts) -> Run:
    with Eager():
        response = submit(client, headers, wdl, inputs, **parts)
        assert response.status_code == 201, response.content
        return drive(Run.objects.get(pk=response.json()["id"]))


def _metadata(client, headers, run, **params):
    response = client.get(f"/api/workflows/v1/{run.pk}/metadata", params, **headers)
    assert response.status_code == 200, response
    return json_body(response)


def test_metadata_has_cromwells_workflow_and_call_fields(client, alice_auth):
    run = _run(client, alice_auth, SCATTER, {"fan.n": 2})
    body = _metadata(client, alice_auth, run)
    assert {"id", "workflowName", "status", "submission", "start", "end", "inputs", "outputs", "labels",
            "workflowRoot", "submittedFiles", "calls"} <= set(body)
    assert (body["id"], body["workflowName"], body["status"]) == (str(run.pk), "fan", "Succeeded")
    assert body["outputs"] == {"fan.doubled": [0, 2]} and body["inputs"]["fan.n"] == 2
    assert body["submittedFiles"]["workflow"] == SCATTER.decode()
    assert body["submission"].endswith("Z") and "T" in body["submission"]
    shards = body["calls"]["fan.work"]
    assert [(s["shardIndex"], s["attempt"], s["executionStatus"]) for s in shards] == [(0, 1, "Done"), (1, 1, "Done")]
    call = shards[1]
    for key in ("backendStatus", "backend", "jobId", "stdout", "stderr", "callRoot", "returnCode", "start", "end",
                "inputs", "outputs", "runtimeAttributes", "executionEvents", "backendLogs"):
        assert key in call, key
    assert call["inputs"] == {"i": 1, "seconds": 0} and call["outputs"] == {"doubled": 2}
    assert call["callRoot"].endswith("/call-work/shard-1/attempt-1") and call["stdout"].endswith("/execution/stdout")
    assert call["returnCode"] == 0
    assert [e["description"] for e in call["executionEvents"]] == ["WaitingForQueueSpace", "PreparingJob", "RunningJob"]
    pk = Call.objects.get(run=run, shard_index=1).pk
    assert call["backendLogs"]["log"] == f"http://testserver/api/workflows/v1/{run.pk}/calls/{pk}/log"


def test_include_and_exclude_keys_filter_workflow_and_call_fields(client, alice_auth):
    run = _run(client, alice_auth, SCATTER, {"fan.n": 1})
    slim = _metadata(client, alice_auth, run, includeKey=["status", "executionStatus"])
    assert slim == {"id": str(run.pk), "status": "Succeeded",
                    "calls": {"fan.work": [{"executionStatus": "Done", "shardIndex": 0, "attempt": 1}]}}
    nested = _metadata(client, alice_auth, run, includeKey="outputs:fan.doubled")
    assert nested["outputs"] == {"fan.doubled": [0]} and nested["calls"] == {}
    no_calls = _metadata(client, alice_auth, run, excludeKey=["calls", "submittedFiles", "inputs"])
    assert no_calls["calls"] == {} and "submittedFiles" not in no_calls and "inputs" not in no_calls
    assert no_calls["outputs"] == {"fan.doubled": [0]}
    runtime = _metadata(client, alice_auth, run, excludeKey="executionEvents")
    assert "executionEvents" not in runtime["calls"]["fan.work"][0]


def test_a_call_waiting_for_a_team_slot_shows_as_waiting_for_queue_space(client, alice_auth, team):
    team.max_running_jobs = 1
    team.save()
    with Eager():
        run_id = submit(client, alice_auth, SCATTER, {"fan.n": 3, "fan.seconds": 30}).json()["id"]
        run = drive(Run.objects.get(pk=run_id),
                    until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).exists())
    body = _metadata(client, alice_auth, run)
    statuses = sorted(s["executionStatus"] for s in body["calls"]["fan.work"])
    assert statuses == ["Running", "WaitingForQueueSpace", "WaitingForQueueSpace"]
    assert body["status"] == "Running"
    with Eager():
        assert client.post(f"/api/workflows/v1/{run.pk}/abort", **alice_auth).json()["status"] == "Aborting"
        drive(run)
    statuses = {s["executionStatus"] for s in _metadata(client, alice_auth, run)["calls"]["fan.work"]}
    assert statuses == {"Aborted"}


def test_a_retried_then_failed_call_shows_both_attempts_and_the_failure(client, alice_auth):
    run = _run(client, alice_auth, FAILING)
    body = _metadata(client, alice_auth, run)
    (failure,) = body["failures"]
    assert failure["message"] == "Workflow failed" and "boom" in failure["causedBy"][0]["message"]
    attempts = body["calls"]["flaky.boom"]
    assert [(a["attempt"], a["executionStatus"], a["returnCode"]) for a in attempts] == \
        [(1, "RetryableFailure", 3), (2, "Failed", 3)]
    assert "going down" in attempts[1]["failures"][0]["message"]
    failed = client.get(f"/api/workflows/v1/{run.pk}/metadata/failed-jobs", **alice_auth).json()
    assert [(a["attempt"], a["executionStatus"]) for a in failed["calls"]["flaky.boom"]] == [(2, "Failed")]


def test_subworkflows_are_nested_and_expanded_on_request(client, alice_auth):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("inner.wdl", SUB_INNER)
    run = _run(client, alice_auth, SUB_MAIN, workflowDependencies=upload(zipped.getvalue(), "deps.zip"))
    assert run.status == Run.Status.SUCCEEDED
    flat = _metadata(client, alice_auth, run)
    shouts = flat["calls"]["outer.shout"]
    assert [(s["shardIndex"], s["executionStatus"]) for s in shouts] == [(0, "Done"), (1, "Done")]
    assert all("subWorkflowId" in s and "subWorkflowMetadata" not in s for s in shouts)
    expanded = _metadata(client, alice_auth, run, expandSubWorkflows="true")
    inner = expanded["calls"]["outer.shout"][1]["subWorkflowMetadata"]
    assert inner["workflowName"] == "shout" and inner["rootWorkflowId"] == str(run.pk)
    assert inner["id"] == expanded["calls"]["outer.shout"][1]["subWorkflowId"]
    assert inner["calls"]["shout.upper"][0]["outputs"] == {"out": "B"}


def test_status_outputs_and_logs_have_cromwells_shapes(client, alice_auth):
    run = _run(client, alice_auth, HELLO, {"hello.who": "Ada"})
    assert client.get(f"/api/workflows/v1/{run.pk}/status", **alice_auth).json() == \
        {"status": "Succeeded", "id": str(run.pk)}
    outputs = client.get(f"/api/workflows/v1/{run.pk}/outputs", **alice_auth).json()
    assert outputs["id"] == str(run.pk) and outputs["outputs"]["hello.greeting"] == "Hello, Ada!"
    logs = client.get(f"/api/workflows/v1/{run.pk}/logs", **alice_auth).json()
    (entry,) = logs["calls"]["hello.greet"]
    assert entry["stdout"].endswith("/call-greet/attempt-1/execution/stdout") and entry["shardIndex"] == -1
    text = client.get(entry["backendLogs"]["log"].removeprefix("http://testserver"), **alice_auth)
    assert text.content == b"Hello, Ada!\n" and text["X-Next-Offset"] == "12"
    tail = client.get(entry["backendLogs"]["log"].removeprefix("http://testserver"),
                      {"stream": "stdout", "offset": "7", "format": "json"}, **alice_auth).json()
    assert tail["text"] == "Ada!\n" and tail["nextOffset"] == 12
    bad = client.get(entry["backendLogs"]["log"].removeprefix("http://testserver"), {"stream": "log"}, **alice_auth)
    assert bad.status_code == 400


def test_a_run_with_no_calls_yet_has_empty_calls_and_no_logs(client, alice_auth):
    run_id = submit(client, alice_auth, HELLO, workflowOnHold="true").json()["id"]
    body = json_body(client.get(f"/api/workflows/v1/{run_id}/metadata", **alice_auth))
    assert body["calls"] == {} and body["status"] == "On Hold" and "start" not in body
    assert client.get(f"/api/workflows/v1/{run_id}/logs", **alice_auth).json() == {"id": run_id}
    assert client.get(f"/api/workflows/v1/{run_id}/outputs", **alice_auth).json() == {"outputs": {}, "id": run_id}


def test_the_timing_page_draws_each_call(client, alice_auth):
    run = _run(client, alice_auth, SCATTER, {"fan.n": 2})
    page = client.get(f"/api/workflows/v1/{run.pk}/timing", **alice_auth)
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "fan.work[0]" in page.content.decode() and "fan.work[1]" in page.content.decode()


def test_metadata_of_10000_calls_is_streamed_in_chunks_from_one_query_for_calls(client, alice_auth,
                                                                                 django_assert_max_num_queries):
    run = Run.objects.get(pk=submit(client, alice_auth, SCATTER, workflowOnHold="true").json()["id"])
    now = timezone.now()
    Call.objects.bulk_create([
        Call(run=run, team_id=run.team_id, project_id=run.project_id, backend="Local", call_id=f"call-work-{i}",
             fqn="fan.work", task="work", shard_index=i, status=Call.Status.SUCCEEDED if i % 3 else Call.Status.QUEUED,
             inputs={"i": i, "seconds": 0}, outputs={"doubled": 2 * i} if i % 3 else None, runtime={"cpu": 1},
             command=f"echo {2 * i}", return_code=0 if i % 3 else None, call_dir=f"{run.root}/call-work/shard-{i}/attempt-1",
             backend_job_id=f"{run.root}/call-work/shard-{i}/attempt-1/execution", claimed=now, started=now, ended=now)
        for i in range(10_000)], batch_size=2000)
    # how long it takes is bench/api_metadata.py's to say; here, what is read and how it is sent.
    # token, last_used, run, membership, cache settings, calls (a server-side cursor: a few round trips),
    # subworkflows, and a savepoint or two around the token's last_used
    with django_assert_max_num_queries(12):
        response = client.get(f"/api/workflows/v1/{run.pk}/metadata", {"excludeKey": "submittedFiles"}, **alice_auth)
        chunks = list(response.streaming_content)
    assert response.streaming and len(chunks) > 10
    shards = json.loads(b"".join(chunks))["calls"]["fan.work"]
    assert len(shards) == 10_000 and shards[9_999]["shardIndex"] == 9_999
    assert {s["executionStatus"] for s in shards} == {"Done", "WaitingForQueueSpace"}


def test_include_key_status_reads_no_call_and_gzip_is_sent_when_accepted(client, alice_auth):
    run = _run(client, alice_auth, SCATTER, {"fan.n": 2})
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/workflows/v1/{run.pk}/metadata", {"includeKey": "status"}, **alice_auth)
        body = json_body(response)
    assert body == {"id": str(run.pk), "status": "Succeeded", "calls": {}}
    assert not [q["sql"] for q in captured if "workflows_call" in q["sql"]]
    zipped = client.get(f"/api/workflows/v1/{run.pk}/metadata", HTTP_ACCEPT_ENCODING="gzip, deflate", **alice_auth)
    assert zipped["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped["Vary"]
    assert json_body(zipped) == _metadata(client, alice_auth, run)
    assert "Content-Encoding" not in client.get(f"/api/workflows/v1/{run.pk}/metadata", **alice_auth)


def test_metadata_has_processing_events_and_a_running_run_has_no_outputs_yet(client, alice_auth):
    with Eager():
        run_id = submit(client, alice_auth, SCATTER, {"fan.n": 2, "fan.seconds": 30}).json()["id"]
        run = drive(Run.objects.get(pk=run_id),
                    until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).count() == 2)
    body = _metadata(client, alice_auth, run)
    assert [e["description"] for e in body["workflowProcessingEvents"]] == ["PickedUp"]
    assert body["workflowProcessingEvents"][0]["timestamp"] == body["start"]
    # as Cromwell (its issue 4139): a workflow's outputs are {} until it succeeded, whatever calls finished
    assert client.get(f"/api/workflows/v1/{run.pk}/outputs", **alice_auth).json() == {"outputs": {}, "id": run_id}
    with Eager():
        client.post(f"/api/workflows/v1/{run.pk}/abort", **alice_auth)
        drive(run)
    events = _metadata(client, alice_auth, run)["workflowProcessingEvents"]
    assert [e["description"] for e in events] == ["PickedUp", "Finished"]


def test_an_outsider_gets_404_for_the_metadata_of_another_teams_run(client, alice_auth, carol_auth):
    run_id = submit(client, alice_auth, HELLO, workflowOnHold="true").json()["id"]
    for path in ("metadata", "metadata/failed-jobs", "logs", "timing"):
        response = client.get(f"/api/workflows/v1/{run_id}/{path}", {"expandSubWorkflows": "true"}, **carol_auth)
        assert response.status_code == 404 and response.json()["message"] == f"Unrecognized workflow ID: {run_id}"
