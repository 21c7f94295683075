"""Every WES route against the Django test client: what a client sees, outsiders, paging, and ErrorResponse bodies."""
import uuid

import pytest

from teams.services import api_token_create
from tests.runs import Eager, drive
from tests.wes.conftest import SLEEPER, WES, basic, run_request, wes_post
from tests.workflows.ui_factories import hello_workflow, make_run
from workflows.models import Call, Run

pytestmark = pytest.mark.django_db


def _submitted(client, headers, **kwargs) -> Run:
    response = wes_post(client, headers, run_request(**kwargs))
    assert response.status_code == 200, response.content
    return Run.objects.get(pk=response.json()["run_id"])


def test_a_run_of_attached_files_runs_and_is_described(client, alice_auth, project):
    run = _submitted(client, alice_auth, tags={"sample": "s1"}, workflow_engine_parameters={"read_from_cache": False})
    assert run.project == project and run.labels == {"sample": "s1"} and run.options == {"read_from_cache": False}
    assert client.get(f"{WES}/runs/{run.pk}/status", **alice_auth).json() == {"run_id": str(run.pk), "state": "QUEUED"}

    with Eager():
        drive(run)

    assert client.get(f"{WES}/runs/{run.pk}/status", **alice_auth).json()["state"] == "COMPLETE"
    log = client.get(f"{WES}/runs/{run.pk}", **alice_auth).json()
    assert log["state"] == "COMPLETE" and log["outputs"] == {"hello.greeting": "Hello, Ada!"}
    assert log["request"] == {"workflow_params": {"hello.who": "Ada"}, "workflow_type": "WDL",
                              "workflow_type_version": "1.0", "tags": {"sample": "s1"},
                              "workflow_engine_parameters": {"read_from_cache": False}, "workflow_engine": "Batchsite",
                              "workflow_url": "main.wdl"}
    assert log["run_log"]["name"] == "hello" and log["run_log"]["end_time"].endswith("Z")
    assert log["task_logs"] is None and log["task_logs_url"] == f"http://testserver{WES}/runs/{run.pk}/tasks"

    tasks = client.get(log["task_logs_url"], **alice_auth).json()
    call = Call.objects.get(run=run)
    assert tasks["next_page_token"] == "" and [t["id"] for t in tasks["task_logs"]] == [str(call.pk)]
    task = client.get(f"{WES}/runs/{run.pk}/tasks/{call.pk}", **alice_auth).json()
    assert task == tasks["task_logs"][0]
    assert task["name"] == "hello.greet" and task["exit_code"] == 0 and "Hello, ~{who}" not in task["cmd"][0]
    assert 'echo "Hello, Ada!"' in task["cmd"][0] and "status: Succeeded" in task["system_logs"]
    assert client.get(task["stdout"], **alice_auth).content == b"Hello, Ada!\n"
    assert client.get(task["stderr"], **alice_auth).content == b"to stderr\n"

    listed = client.get(f"{WES}/runs", **alice_auth).json()
    assert listed == {"runs": [{"run_id": str(run.pk), "state": "COMPLETE", "start_time": log["run_log"]["start_time"],
                                "end_time": log["run_log"]["end_time"], "tags": {"sample": "s1"}}],
                      "next_page_token": ""}


def test_service_info_describes_the_service_and_counts_only_the_callers_runs(client, alice_auth, carol_auth, project,
                                                                            alice):
    make_run(hello_workflow(project, alice), alice, status=Run.Status.SUCCEEDED)
    make_run(hello_workflow(project, alice, name="Other"), alice, status=Run.Status.ON_HOLD)

    anonymous = client.get(f"{WES}/service-info")
    info = client.get(f"{WES}/service-info", **alice_auth).json()
    carols = client.get(f"{WES}/service-info", **carol_auth).json()

    assert anonymous.status_code == 200 and anonymous.json()["system_state_counts"] == {}
    assert info["system_state_counts"] == {"COMPLETE": 1, "PAUSED": 1} and carols["system_state_counts"] == {}
    assert info["workflow_type_versions"] == {"WDL": {"workflow_type_version": ["draft-2", "1.0", "1.1"]}}
    assert info["supported_wes_versions"] == ["1.0.0", "1.1.0"]
    assert info["supported_filesystem_protocols"] == ["file"]
    assert info["workflow_engine_versions"] == {"Batchsite": {"workflow_engine_version": ["batchsite-1"]}}
    assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
    assert info["id"] == "testserver.wes"  # the host, reversed: org.example.batchsite.wes for batchsite.example.org
    assert info["auth_instructions_url"] == "http://testserver/account/tokens/"
    assert {"name": "batchsite-project", "type": "string", "default_value": None} in \
        info["default_workflow_engine_parameters"]
    assert info["tags"]["project_tag"] == "batchsite-project"
    bad = client.get(f"{WES}/service-info", **basic("alice", "bst_wrong"))
    assert bad.status_code == 401 and bad.json()["status_code"] == 401


def test_run_states_follow_batchsite_statuses_calls_and_reclaims(client, alice_auth, project, alice):
    from workflows.services.cost import attempt_outcome

    workflow = hello_workflow(project, alice)
    runs = {status: make_run(workflow, alice, status=status) for status in Run.Status.values}
    running_started = make_run(workflow, alice, status=Run.Status.RUNNING)
    failed_by_task, reclaimed = make_run(workflow, alice, status=Run.Status.FAILED), make_run(workflow, alice, status=Run.Status.FAILED)

    def call(run, **fields):
        return Call.objects.create(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                                   call_id=f"call-greet-{Call.objects.count()}", fqn="hello.greet", task="greet", **fields)

    call(runs[Run.Status.RUNNING], status=Call.Status.QUEUED)
    call(running_started, status=Call.Status.RUNNING, started=running_started.started)
    call(failed_by_task, status=Call.Status.FAILED, return_code=1, failure="exit 1")
    last = call(reclaimed, status=Call.Status.RUNNING, runtime={"preemptible": 0})
    status, failure = attempt_outcome(last, "Host EC2 (instance i-0123) terminated.", preempted=True)
    Call.objects.filter(pk=last.pk).update(status=status, failure=failure)

    def state(run):
        return client.get(f"{WES}/runs/{run.pk}/status", **alice_auth).json()["state"]

    assert {status: state(run) for status, run in runs.items()} == {
        "Submitted": "QUEUED", "On Hold": "PAUSED", "Running": "INITIALIZING", "Aborting": "CANCELING",
        "Aborted": "CANCELED", "Succeeded": "COMPLETE", "Failed": "SYSTEM_ERROR"}
    assert (state(running_started), state(failed_by_task), state(reclaimed)) == ("RUNNING", "EXECUTOR_ERROR", "PREEMPTED")
    assert "status: Failed" in client.get(f"{WES}/runs/{reclaimed.pk}/tasks/{last.pk}", **alice_auth).json()["system_logs"]


def test_an_outsider_gets_404_on_every_run_route_and_sees_no_runs(client, alice_auth, carol_auth, project, alice):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    task = Call.objects.create(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                               call_id="call-greet", fqn="hello.greet", task="greet")
    for method, path in (("get", ""), ("get", "/status"), ("post", "/cancel"), ("get", "/tasks"),
                         ("get", f"/tasks/{task.pk}")):
        response = getattr(client, method)(f"{WES}/runs/{run.pk}{path}", **carol_auth)
        assert response.status_code == 404, (path, response.content)
        assert response.json() == {"msg": f"No run {run.pk} in your teams", "status_code": 404}
    assert client.get(f"{WES}/runs", **carol_auth).json() == {"runs": [], "next_page_token": ""}
    assert Run.objects.get(pk=run.pk).status == Run.Status.RUNNING


def test_unknown_and_malformed_ids_are_404(client, alice_auth, project, alice):
    run = make_run(hello_workflow(project, alice), alice)
    assert client.get(f"{WES}/runs/{uuid.uuid4()}", **alice_auth).status_code == 404
    malformed = client.get(f"{WES}/runs/not-a-run/status", **alice_auth)
    assert malformed.status_code == 404 and malformed.json()["msg"] == "No run 'not-a-run': run ids are UUIDs"
    for task_id in ("99999", "x", "²", "9" * 40):
        response = client.get(f"{WES}/runs/{run.pk}/tasks/{task_id}", **alice_auth)
        assert response.status_code == 404 and response.json()["msg"].startswith(f"Run {run.pk} has no task")


def test_a_viewer_reads_but_cannot_cancel(client, bob_auth, project, alice):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.ON_HOLD)
    assert client.get(f"{WES}/runs/{run.pk}", **bob_auth).status_code == 200
    response = client.post(f"{WES}/runs/{run.pk}/cancel", **bob_auth)
    assert response.status_code == 403 and response.json() == {"msg": "Viewers can look but not act.", "status_code": 403}
    assert Run.objects.get(pk=run.pk).status == Run.Status.ON_HOLD


def test_cancel_stops_a_run_and_refuses_one_that_ended(client, alice_auth, project):
    run = _submitted(client, alice_auth, files={"sleeper.wdl": SLEEPER}, url="sleeper.wdl", params={})
    with Eager():
        drive(run, until=lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).exists())
        assert client.get(f"{WES}/runs/{run.pk}/status", **alice_auth).json()["state"] == "RUNNING"
        response = client.post(f"{WES}/runs/{run.pk}/cancel", **alice_auth)
        assert response.status_code == 200 and response.json() == {"run_id": str(run.pk)}
        drive(run)
    assert client.get(f"{WES}/runs/{run.pk}/status", **alice_auth).json()["state"] == "CANCELED"
    again = client.post(f"{WES}/runs/{run.pk}/cancel", **alice_auth)
    assert again.status_code == 400
    assert again.json()["msg"] == f"Run {run.pk} has already ended (Aborted): there is nothing to cancel"


def test_runs_and_tasks_come_in_pages_with_tokens(client, alice_auth, project, alice):
    workflow = hello_workflow(project, alice)
    runs = [make_run(workflow, alice) for _ in range(5)]
    newest_first = [str(r.pk) for r in sorted(runs, key=lambda r: (r.submitted, r.pk), reverse=True)]
    seen, token = [], None
    for _ in range(3):
        page = client.get(f"{WES}/runs", {"page_size": 2, **({"page_token": token} if token else {})},
                          **alice_auth).json()
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
    assert seen == newest_first and token == ""

    run = runs[0]
    calls = [Call.objects.create(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                                 call_id=f"call-greet-{i}", fqn="hello.greet", task="greet", shard_index=i)
             for i in range(3)]
    first = client.get(f"{WES}/runs/{run.pk}/tasks", {"page_size": 2}, **alice_auth).json()
    second = client.get(f"{WES}/runs/{run.pk}/tasks", {"page_size": 2, "page_token": first["next_page_token"]},
                        **alice_auth).json()
    assert [t["name"] for t in first["task_logs"] + second["task_logs"]] == \
        ["hello.greet[0]", "hello.greet[1]", "hello.greet[2]"] and second["next_page_token"] == ""
    assert [t["id"] for t in first["task_logs"]] == [str(c.pk) for c in calls[:2]]
    other = client.get(f"{WES}/runs/{runs[1].pk}/tasks", {"page_token": first["next_page_token"]}, **alice_auth)
    assert other.status_code == 400 and "page_token is not a token this server gave" in other.json()["msg"]


@pytest.mark.parametrize("query, message", [
    ({"page_size": 0}, "page_size: Input should be greater than or equal to 1"),
    ({"page_size": "ten"}, "page_size: Input should be a valid integer"),
    ({"page_token": "forged"}, "page_token is not a token this server gave"),
    ({"page_token": "x" * 501}, "page_token: String should have at most 500 characters"),
])
def test_bad_paging_parameters_are_400_naming_them(client, alice_auth, query, message):
    for path in ("runs", f"runs/{uuid.uuid4()}/tasks"):
        response = client.get(f"{WES}/{path}", query, **alice_auth)
        if path.endswith("tasks") and "page_token" in query and "forged" in query.values():
            assert response.status_code == 404  # the run is looked up first
            continue
        assert response.status_code == 400 and message in response.json()["msg"], response.content
        assert response.json()["status_code"] == 400


def test_a_huge_page_size_gets_the_largest_page(client, alice_auth, project, alice):
    make_run(hello_workflow(project, alice), alice)
    response = client.get(f"{WES}/runs", {"page_size": "9" * 30}, **alice_auth)
    assert response.status_code == 200 and len(response.json()["runs"]) == 1


def test_without_a_valid_token_every_route_but_service_info_is_401(client, project, alice):
    run = make_run(hello_workflow(project, alice), alice)
    client.force_login(alice)  # a browser session is not a token
    for headers in ({}, basic("alice", "bst_wrong"), {"HTTP_AUTHORIZATION": "Bearer nope"}):
        for method, path in (("get", "runs"), ("post", "runs"), ("get", f"runs/{run.pk}"), ("post", f"runs/{run.pk}/cancel")):
            response = getattr(client, method)(f"{WES}/{path}", **headers)
            assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic realm=")
            assert response.json()["status_code"] == 401
            assert ("not valid" if headers else "API token") in response.json()["msg"]


def test_bearer_tokens_work_too(client, alice, project):
    secret = api_token_create(user=alice, name="bearer")[1]
    response = client.get(f"{WES}/runs", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200


def test_wrong_methods_are_405_and_unknown_paths_404_in_json(client, alice_auth):
    response = client.delete(f"{WES}/runs", **alice_auth)
    assert response.status_code == 405 and response.json()["status_code"] == 405
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    cancel = client.get(f"{WES}/runs/{uuid.uuid4()}/cancel", **alice_auth)
    assert cancel.status_code == 405 and cancel.json()["msg"].startswith("GET is not allowed here")
    for path in ("nope", "runs/a/b/c/d", "runs/"):
        response = client.post(f"{WES}/{path}", **alice_auth)
        assert response.status_code == 404 and response.json()["msg"] == f"No WES route {WES}/{path}: " \
            "see /api/ga4gh/wes/v1/openapi.json"


def test_the_openapi_document_lists_every_route(client):
    paths = client.get(f"{WES}/openapi.json").json()["paths"]
    assert set(paths) == {f"{WES}{p}" for p in ("/service-info", "/runs", "/runs/{run_id}", "/runs/{run_id}/status",
                                                 "/runs/{run_id}/cancel", "/runs/{run_id}/tasks",
                                                 "/runs/{run_id}/tasks/{task_id}")}
    assert "workflow_attachment" in str(paths[f"{WES}/runs"]["post"]["requestBody"])


def test_the_api_root_is_a_json_404(client, alice_auth):
    response = client.get(f"{WES}/", **alice_auth)
    assert response.status_code == 404 and response.json()["msg"] == f"No WES route {WES}/: see {WES}/openapi.json"
