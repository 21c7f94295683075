"""The callCaching block of Cromwell's metadata and GET /api/workflows/v1/callcaching/diff."""
from tests.api.conftest import json_body
from tests.workflows.test_caching import caching_on, ref, run_chain  # noqa: F401 (fixtures)

DIFF = "/api/workflows/v1/callcaching/diff"


def test_metadata_carries_the_call_caching_block(caching_on, project, alice, ref, client):
    first = run_chain(project, alice, ref)
    second = run_chain(project, alice, ref, name="wf2")
    client.force_login(alice)
    body = json_body(client.get(f"/api/workflows/v1/{second.pk}/metadata"))
    shard = body["calls"]["wf.shout"][1]["callCaching"]
    assert shard["hit"] is True and shard["result"] == f"Cache Hit: {first.pk}:wf.shout:1"
    assert (shard["allowResultReuse"], shard["effectiveCallCachingMode"]) == (True, "ReadAndWriteCache")
    hashes = shard["hashes"]
    assert set(hashes) >= {"command template", "backend name", "input count", "output count", "input",
                           "output expression"}
    assert set(hashes["input"]) == {"String word", "File ref"} and set(hashes["output expression"]) == {"File out"}
    original = json_body(client.get(f"/api/workflows/v1/{first.pk}/metadata"))["calls"]["wf.shout"][1]["callCaching"]
    assert (original["hit"], original["result"], original["hashes"]) == (False, "Cache Miss", hashes)
    only = json_body(client.get(f"/api/workflows/v1/{second.pk}/metadata?includeKey=callCaching"))
    assert set(only["calls"]["wf.join"][0]) == {"callCaching", "shardIndex", "attempt"}


def test_write_only_runs_say_so(caching_on, project, alice, ref, client):
    run = run_chain(project, alice, ref, options={"read_from_cache": False})
    client.force_login(alice)
    block = json_body(client.get(f"/api/workflows/v1/{run.pk}/metadata"))["calls"]["wf.join"][0]["callCaching"]
    assert (block["effectiveCallCachingMode"], block["hit"], block["allowResultReuse"]) == ("WriteCache", False, True)


def test_the_diff_names_the_hashes_that_differ(caching_on, project, alice, ref, client):
    first = run_chain(project, alice, ref)
    second = run_chain(project, alice, ref, words=("a", "x", "c"), name="wf2")
    client.force_login(alice)
    response = client.get(DIFF, {"workflowA": first.pk, "callA": "wf.shout", "indexA": 1,
                                 "workflowB": second.pk, "callB": "wf.shout", "indexB": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["callA"] == {"executionStatus": "Done", "allowResultReuse": True, "callFqn": "wf.shout",
                             "jobIndex": 1, "workflowId": str(first.pk)}
    keys = [d["hashKey"] for d in body["hashDifferential"]]
    assert keys == ["command template", "input: String word"]
    assert all(d["callA"] and d["callB"] and d["callA"] != d["callB"] for d in body["hashDifferential"])
    same = client.get(DIFF, {"workflowA": first.pk, "callA": "wf.shout", "indexA": 0,
                             "workflowB": second.pk, "callB": "wf.shout", "indexB": 0}).json()
    assert same["hashDifferential"] == []


def test_the_diff_refuses_bad_parameters_and_other_teams_calls(caching_on, project, alice, carol, other_team, ref,
                                                               client):
    first = run_chain(project, alice, ref)
    client.force_login(alice)
    response = client.get(DIFF, {"workflowA": first.pk, "callA": "wf.shout", "indexA": "one"})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "missing workflowB query parameter" in message and "indexA must be an integer" in message
    missing = client.get(DIFF, {"workflowA": first.pk, "callA": "wf.nosuch", "workflowB": first.pk, "callB": "wf.join"})
    assert missing.status_code == 404 and "Cannot find call" in missing.json()["message"]
    client.force_login(carol)
    foreign = client.get(DIFF, {"workflowA": first.pk, "callA": "wf.join", "workflowB": first.pk, "callB": "wf.join"})
    assert foreign.status_code == 404 and str(first.pk) in foreign.json()["message"]
    client.logout()
    assert client.get(DIFF, {"workflowA": first.pk}).status_code == 401
