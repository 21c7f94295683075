"""Subworkflows as workflows of their own: their ids answer status, metadata, outputs and logs, and the query lists them."""
import io
import zipfile

import pytest

from tests.api.conftest import json_body, upload
from tests.api.test_metadata import SUB_INNER, SUB_MAIN, _run
from workflows.models import Run, Subworkflow

pytestmark = pytest.mark.django_db(transaction=True)

FAILING_INNER = SUB_INNER.replace("tr a-z A-Z", "exit 4")


def _nested_run(client, headers, inner=SUB_INNER) -> Run:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("inner.wdl", inner)
    return _run(client, headers, SUB_MAIN, workflowDependencies=upload(zipped.getvalue(), "deps.zip"))


def _get(client, headers, path, **params):
    response = client.get(f"/api/workflows/v1/{path}", params, **headers)
    assert response.status_code == 200, response
    return json_body(response)


def test_a_subworkflow_id_answers_status_outputs_metadata_and_logs(client, alice_auth):
    run = _nested_run(client, alice_auth)
    assert run.status == Run.Status.SUCCEEDED
    entry = _get(client, alice_auth, f"{run.pk}/metadata")["calls"]["outer.shout"][1]
    sub_id = entry["subWorkflowId"]
    assert entry["executionStatus"] == "Done" and entry["inputs"] == {"word": "b"}
    assert entry["outputs"] == {"loud": "B"}
    assert [e["description"] for e in entry["executionEvents"]] == ["SubWorkflowPreparingState",
                                                                    "SubWorkflowRunningState"]
    assert _get(client, alice_auth, f"{sub_id}/status") == {"status": "Succeeded", "id": sub_id}
    assert _get(client, alice_auth, f"{sub_id}/outputs") == {"outputs": {"shout.loud": "B"}, "id": sub_id}
    body = _get(client, alice_auth, f"{sub_id}/metadata")
    assert (body["id"], body["workflowName"], body["status"]) == (sub_id, "shout", "Succeeded")
    assert (body["parentWorkflowId"], body["rootWorkflowId"]) == (str(run.pk), str(run.pk))
    assert body["inputs"] == {"shout.word": "b"} and body["outputs"] == {"shout.loud": "B"}
    assert body["workflowRoot"] == f"{run.root}/call-shout/shard-1"
    assert body["calls"]["shout.upper"][0]["outputs"] == {"out": "B"}
    logs = _get(client, alice_auth, f"{sub_id}/logs")
    (upper,) = logs["calls"]["shout.upper"]
    assert upper["stdout"] == f"{run.root}/call-shout/shard-1/call-upper/attempt-1/execution/stdout"
    # the run's own logs list its own task calls only: each subworkflow's are under its id, as in Cromwell
    assert _get(client, alice_auth, f"{run.pk}/logs") == {"id": str(run.pk)}


def test_expanded_metadata_nests_each_subworkflows_full_metadata(client, alice_auth):
    run = _nested_run(client, alice_auth)
    expanded = _get(client, alice_auth, f"{run.pk}/metadata", expandSubWorkflows="true")
    shouts = expanded["calls"]["outer.shout"]
    assert [s["shardIndex"] for s in shouts] == [0, 1]
    inner = shouts[0]["subWorkflowMetadata"]
    assert inner == _get(client, alice_auth, f"{shouts[0]['subWorkflowId']}/metadata")
    assert inner["inputs"] == {"shout.word": "a"} and inner["calls"]["shout.upper"][0]["outputs"] == {"out": "A"}
    flat = _get(client, alice_auth, f"{run.pk}/metadata")
    assert all("subWorkflowMetadata" not in s for s in flat["calls"]["outer.shout"])
    assert expanded["submittedFiles"]["imports"] == {"inner.wdl": SUB_INNER}


def test_the_query_lists_subworkflows_with_their_parent_and_root(client, alice_auth):
    run = _nested_run(client, alice_auth)
    subs = {str(s.pk): s for s in Subworkflow.objects.filter(run=run)}
    assert len(subs) == 2
    results = _get(client, alice_auth, "query", additionalQueryResultFields="parentWorkflowId")["results"]
    by_id = {r["id"]: r for r in results}
    assert set(by_id) == {str(run.pk), *subs}
    for sub_id in subs:
        assert by_id[sub_id]["name"] == "shout" and by_id[sub_id]["status"] == "Succeeded"
        assert by_id[sub_id]["parentWorkflowId"] == by_id[sub_id]["rootWorkflowId"] == str(run.pk)
    assert "parentWorkflowId" not in by_id[str(run.pk)]
    plain = _get(client, alice_auth, "query", name="shout")
    assert plain["totalResultsCount"] == 2 and all("parentWorkflowId" not in r for r in plain["results"])
    roots = _get(client, alice_auth, "query", includeSubworkflows="false")["results"]
    assert [r["id"] for r in roots] == [str(run.pk)]
    bad = client.get("/api/workflows/v1/query", {"includeSubworkflows": "maybe"}, **alice_auth)
    assert bad.status_code == 400 and "includeSubworkflows" in bad.json()["message"]


def test_a_failed_subworkflow_and_its_run_say_why(client, alice_auth):
    run = _nested_run(client, alice_auth, inner=FAILING_INNER)
    assert run.status == Run.Status.FAILED
    body = _get(client, alice_auth, f"{run.pk}/metadata")
    assert body["failures"][0]["message"] == "Workflow failed"
    assert {f["message"].split(" failed")[0] for f in body["failures"][0]["causedBy"]} == {"shout.upper"}
    entries = body["calls"]["outer.shout"]
    assert {e["executionStatus"] for e in entries} == {"Failed"} and all("outputs" not in e for e in entries)
    sub_id = entries[0]["subWorkflowId"]
    assert _get(client, alice_auth, f"{sub_id}/status")["status"] == "Failed"
    assert _get(client, alice_auth, f"{sub_id}/outputs")["outputs"] == {}
    assert _get(client, alice_auth, "query", id=sub_id)["results"][0]["status"] == "Failed"
    # The subworkflow's own metadata says why, as Cromwell's does: its failed call, and what it exited with.
    failures = _get(client, alice_auth, f"{sub_id}/metadata")["failures"]
    assert failures[0]["message"] == "Workflow failed"
    [cause] = failures[0]["causedBy"]
    assert cause["message"].startswith("shout.upper failed: ") and "return code 4" in cause["message"]
    assert "failures" not in _get(client, alice_auth, f"{sub_id}/metadata", excludeKey="failures")


def test_an_outsider_gets_404_for_a_subworkflow_of_another_team(client, alice_auth, carol_auth):
    run = _nested_run(client, alice_auth)
    sub_id = str(Subworkflow.objects.filter(run=run).first().pk)
    for path in ("status", "metadata", "outputs", "logs"):
        response = client.get(f"/api/workflows/v1/{sub_id}/{path}", **carol_auth)
        assert response.status_code == 404 and response.json()["message"] == f"Unrecognized workflow ID: {sub_id}"
    assert client.get("/api/workflows/v1/query", {"id": sub_id}, **carol_auth).json()["totalResultsCount"] == 0
