"""Query (GET and POST), womtool describe, backends and the engine routes."""
import json
import uuid

import pytest

from batchsite.celery import app as celery_app
from tests.api.conftest import HELLO, submit, upload
from workflows.models import Run


@pytest.fixture
def runs(client, alice_auth, carol_auth, other_team):
    from teams.services import project_create

    project_create(team=other_team, name="Carol's", slug="carols")
    mine = [submit(client, alice_auth, HELLO, workflowOnHold="true",
                   labels=upload({"sample": f"s{i}"}, "l.json")).json()["id"] for i in range(3)]
    theirs = submit(client, carol_auth, HELLO, workflowOnHold="true").json()["id"]
    return mine, theirs


def test_query_finds_only_runs_of_the_callers_teams(client, alice_auth, runs):
    mine, theirs = runs
    body = client.get("/api/workflows/v1/query", **alice_auth).json()
    assert sorted(r["id"] for r in body["results"]) == sorted(mine) and body["totalResultsCount"] == 3
    assert {r["name"] for r in body["results"]} == {"hello"} and {r["status"] for r in body["results"]} == {"On Hold"}
    by_id = client.get("/api/workflows/v1/query", {"id": theirs}, **alice_auth).json()
    assert by_id == {"results": [], "totalResultsCount": 0}


def test_query_filters_by_label_status_and_pages(client, alice_auth, runs):
    mine, _ = runs
    body = client.get("/api/workflows/v1/query", {"label": "sample:s1", "additionalQueryResultFields": "labels"},
                      **alice_auth).json()
    assert [r["id"] for r in body["results"]] == [mine[1]] and body["results"][0]["labels"]["sample"] == "s1"
    assert client.get("/api/workflows/v1/query", {"status": "Running"}, **alice_auth).json()["totalResultsCount"] == 0
    page = client.get("/api/workflows/v1/query", {"pageSize": "2", "page": "2"}, **alice_auth).json()
    assert len(page["results"]) == 1 and page["totalResultsCount"] == 3


def test_query_by_post_takes_a_list_of_one_key_objects(client, alice_auth, runs):
    mine, _ = runs
    body = client.post("/api/workflows/v1/query", json.dumps([{"labelor": "sample:s0"}, {"labelor": "sample:s2"},
                                                              {"name": "hello"}]),
                       content_type="application/json", **alice_auth).json()
    assert sorted(r["id"] for r in body["results"]) == sorted([mine[0], mine[2]])


@pytest.mark.parametrize("params, problem", [
    ({"colour": "red"}, "Unrecognized query keys: colour"),
    ({"status": "Sleeping"}, "Unrecognized status values: Sleeping"),
    ({"submission": "yesterday"}, "does not parse as a datetime"),
    ({"id": "nope"}, "Invalid workflow ID: 'nope'."),
    ({"label": "novalue"}, "key:value"),
    ({"pageSize": "0"}, "positive integer"),
    ({"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"}, "start date is after specified end date"),
])
def test_bad_query_parameters_are_400(client, alice_auth, params, problem):
    response = client.get("/api/workflows/v1/query", params, **alice_auth)
    assert response.status_code == 400 and problem in response.json()["message"]


@pytest.mark.parametrize("body", ["{}", "[1]", "nope", '[{"status": 3}]'])
def test_a_bad_query_body_is_400(client, alice_auth, body):
    response = client.post("/api/workflows/v1/query", body, content_type="application/json", **alice_auth)
    assert response.status_code == 400


def test_describe_validates_and_describes_a_wdl(client, alice_auth):
    response = client.post("/api/womtool/v1/describe", {"workflowSource": upload(HELLO, "hello.wdl"),
                                                        "workflowInputs": upload({"hello.who": "x"}, "i.json")},
                           **alice_auth)
    body = response.json()
    assert response.status_code == 200 and body["valid"] and body["validWorkflow"] and body["isRunnableWorkflow"]
    assert body["name"] == "hello" and body["errors"] == [] and body["images"] == ["ubuntu:22.04"]
    assert body["inputs"] == [{"name": "hello.who", "valueType": {"typeName": "String"}, "typeDisplayName": "String",
                               "optional": True, "default": '"world"'}]
    assert {o["name"]: o["valueType"] for o in body["outputs"]} == {
        "hello.greeting": {"typeName": "String"}, "hello.log": {"typeName": "File"}}
    assert body["submittedDescriptorType"] == {"descriptorType": "WDL", "descriptorTypeVersion": "1.0"}


def test_describe_reports_bad_inputs_and_bad_wdl_as_invalid(client, alice_auth):
    bad_inputs = client.post("/api/womtool/v1/describe", {"workflowSource": HELLO.decode(),
                                                          "workflowInputs": '{"hello.nope": 1}'}, **alice_auth).json()
    assert not bad_inputs["valid"] and bad_inputs["validWorkflow"] and "hello.nope" in bad_inputs["errors"][0]
    bad_wdl = client.post("/api/womtool/v1/describe", {"workflowSource": "version 1.0\nworkflow w { call x }\n"},
                          **alice_auth).json()
    assert not bad_wdl["valid"] and not bad_wdl["validWorkflow"] and "2:" in bad_wdl["errors"][0]


@pytest.mark.parametrize("text, expected", [
    ("Array[File]+?", {"typeName": "Optional", "optionalType": {
        "typeName": "Array", "arrayType": {"typeName": "File"}, "nonEmpty": True}}),
    ("Map[String,Pair[Int,Float]]", {"typeName": "Map", "mapType": {"keyType": {"typeName": "String"}, "valueType": {
        "typeName": "Pair", "pairType": {"leftType": {"typeName": "Int"}, "rightType": {"typeName": "Float"}}}}}),
    ("MyStruct", {"typeName": "Object", "objectFieldTypes": []}),
])
def test_wdl_types_become_cromwells_value_types(text, expected):
    from workflows.api.describe import value_type

    assert value_type(text) == expected


def test_backends_lists_the_providers(client, alice_auth):
    assert client.get("/api/workflows/v1/backends", **alice_auth).json() == \
        {"supportedBackends": ["Local"], "defaultBackend": "Local"}


def test_engine_version_and_status_need_no_token_and_status_checks_each_subsystem(client, alice_auth):
    assert "cromwell" in client.get("/engine/v1/version").json()
    systems = client.get("/engine/v1/status").json()  # as Cromwell's: a load balancer's health check has no token
    assert client.get("/engine/v1/status", **alice_auth).json() == systems
    assert systems["Database"] == {"ok": True} and systems["Redis"] == {"ok": True}
    assert set(systems) == {"Database", "Redis", "Workers"}  # the workers are asked (real ones: below)


def test_engine_status_is_500_when_no_worker_answers(client, alice_auth):
    response = client.get("/engine/v1/status", **alice_auth)
    assert response.status_code == 500
    assert response.json()["Workers"] == {"ok": False, "messages": ["no Celery worker answered within 1 s"]}


def test_engine_status_asks_a_real_worker_and_is_500_once_it_has_stopped(client, alice_auth, tmp_path):
    from tests.workers import running, services_env, wait_until, worker

    assert not celery_app.conf.task_always_eager  # the worker check is asked, not answered "eager"
    env, logs = services_env(tmp_path)
    with running(worker(env, logs / "worker.log", concurrency=1)):
        body = wait_until(lambda: (r := client.get("/engine/v1/status", **alice_auth)).status_code == 200 and r.json(),
                          timeout=60, interval=0.2, message="the worker answering the engine status")
        assert body == {"Database": {"ok": True}, "Redis": {"ok": True},
                        "Workers": {"ok": True, "messages": ["1 worker(s) answered"]}}
    response = client.get("/engine/v1/status", **alice_auth)
    assert response.status_code == 500
    assert response.json()["Workers"] == {"ok": False, "messages": ["no Celery worker answered within 1 s"]}


def test_the_openapi_document_describes_every_route(client):
    from openapi_spec_validator import validate

    document = client.get("/api/openapi.json").json()
    validate(document)
    assert {"/api/workflows/v1", "/api/workflows/v1/{id}/metadata", "/api/womtool/v1/describe",
            "/engine/v1/status"} <= set(document["paths"])


def test_an_unknown_run_in_a_query_by_id_is_no_result(client, alice_auth):
    body = client.get("/api/workflows/v1/query", {"id": str(uuid.uuid4())}, **alice_auth).json()
    assert body["totalResultsCount"] == 0
    assert not Run.objects.exists()
