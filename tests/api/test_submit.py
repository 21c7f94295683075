"""Submitting over the API: Cromwell's parts (file or field), errors, projects, versions, batch, hold."""
import io
import json
import uuid
import zipfile

import pytest

from teams.models import Membership
from teams.services import api_token_create, membership_set, project_create, user_create
from tests.api.conftest import HELLO, basic, submit, upload
from workflows.models import Run, Workflow, WorkflowVersion


def test_a_submission_of_file_parts_returns_201_and_lands_in_the_default_project(client, alice_auth, project):
    response = submit(client, alice_auth, HELLO, {"hello.who": "Ada"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "Submitted" and uuid.UUID(body["id"])
    run = Run.objects.get(pk=body["id"])
    assert run.project == project and run.inputs == {"hello.who": "Ada"}
    assert run.version.workflow.name == "hello" and run.version.workflow.project == project


def test_parts_may_be_plain_form_fields(client, alice_auth):
    response = client.post("/api/workflows/v1", {
        "workflowSource": HELLO.decode(), "workflowInputs": '{"hello.who": "Bo"}',
        "workflowOptions": "{}", "labels": '{"sample": "s1"}', "workflowOnHold": "true",
    }, **alice_auth)
    assert response.status_code == 201, response.content
    run = Run.objects.get()
    assert run.status == Run.Status.ON_HOLD and run.labels == {"sample": "s1"}
    assert response.json()["status"] == "On Hold"


def test_the_same_source_twice_is_one_version(client, alice_auth):
    first = submit(client, alice_auth, HELLO).json()["id"]
    second = submit(client, alice_auth, HELLO, {"hello.who": "x"}).json()["id"]
    assert Run.objects.get(pk=first).version == Run.objects.get(pk=second).version
    assert WorkflowVersion.objects.count() == 1 and Workflow.objects.count() == 1
    submit(client, alice_auth, HELLO + b"\n")
    assert WorkflowVersion.objects.count() == 2 and Workflow.objects.count() == 1


def test_an_unknown_part_is_a_400_naming_it(client, alice_auth):
    response = submit(client, alice_auth, HELLO, collectionName="x")
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "fail"
    assert "Unexpected body part name: collectionName" in body["message"]
    assert body["errors"] == ["Unexpected body part name: collectionName"]
    assert not Run.objects.exists()


@pytest.mark.parametrize("parts, problem", [
    ({"workflowUrl": "https://example.org/hello.wdl"}, "workflowSource and workflowUrl can't both be supplied"),
    ({"workflowInputs": upload(b"{nope", "i.json")}, "workflowInputs is not valid JSON"),
    ({"workflowInputs": upload([1], "i.json")}, "must be a JSON object"),
    ({"workflowOptions": upload(b"[]", "o.json")}, "Invalid workflow options provided"),
    ({"labels": upload({"k": 1}, "l.json")}, "Labels must be strings"),
    ({"workflowOnHold": "maybe"}, "workflowOnHold must be true or false"),
    ({"requestedWorkflowId": "nope"}, "Failed to parse requested workflow ID as UUID: 'nope'"),
    ({"workflowType": "CWL"}, "Unsupported workflow type CWL"),
    ({"workflowInputs_x": upload({}, "i.json")}, "is not an integer"),
    ({"workflowInputs": upload({"hello.nosuch": 1}, "i.json")}, "hello.nosuch: unknown input"),
    ({"workflowOptions": upload({"aws_batch_job_role_arn": "arn:aws:iam::999999999999:role/x"}, "o.json")},
     "allowlist"),
])
def test_bad_parts_are_a_400_in_cromwells_body(client, alice_auth, parts, problem):
    response = submit(client, alice_auth, HELLO, **parts)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == "fail" and problem in body["message"]
    assert not Run.objects.exists()


def test_malformed_wdl_is_a_400_with_line_and_column(client, alice_auth):
    response = submit(client, alice_auth, b"version 1.0\nworkflow w { call nope }\n")
    assert response.status_code == 400
    assert "hello.wdl:2:14" in response.json()["message"]
    assert not Workflow.objects.exists()


def test_no_source_is_a_400(client, alice_auth):
    response = client.post("/api/workflows/v1", {"workflowInputs": "{}"}, **alice_auth)
    assert response.status_code == 400
    assert "workflowSource or workflowUrl needs to be supplied" in response.json()["message"]


def test_a_json_body_is_415(client, alice_auth):
    response = client.post("/api/workflows/v1", {"workflowSource": "x"}, content_type="application/json", **alice_auth)
    assert response.status_code == 415


def test_the_project_label_picks_the_project(client, alice_auth, team, project):
    other = project_create(team=team, name="Genomes", slug="genomes")
    labels = {"batchsite-project": "genomics/genomes", "sample": "s2"}
    response = submit(client, alice_auth, HELLO, labels=upload(labels, "labels.json"))
    assert response.status_code == 201
    run = Run.objects.get()
    assert run.project == other and run.labels == labels


def test_the_default_project_is_the_first_of_the_first_team_where_one_may_submit(client, alice, team, other_team):
    project_create(team=team, name="Zebrafish", slug="zebrafish")
    first = project_create(team=team, name="Arabidopsis", slug="arabidopsis")
    project_create(team=other_team, name="Aardvark", slug="aardvark")
    membership_set(team=other_team, user=alice, role=Membership.Role.VIEWER)  # Proteomics sorts after Genomics anyway
    headers = basic("alice", api_token_create(user=alice, name="t")[1])
    assert submit(client, headers, HELLO).status_code == 201
    assert Run.objects.get().project == first


def test_a_project_label_for_another_teams_project_is_refused(client, alice_auth, other_team):
    project_create(team=other_team, name="Secret", slug="secret")
    response = submit(client, alice_auth, HELLO, labels=upload({"batchsite-project": "proteomics/secret"}, "l.json"))
    assert response.status_code == 400
    assert "names no project of your teams" in response.json()["message"]
    assert not Run.objects.exists()


def test_a_user_in_no_team_gets_a_clear_400(client, db):
    dave = user_create(username="dave", password="pw")
    headers = basic("dave", api_token_create(user=dave, name="t")[1])
    response = submit(client, headers, HELLO)
    assert response.status_code == 400
    assert "is in no team" in response.json()["message"]


def test_a_viewer_cannot_submit(client, bob_auth):
    response = submit(client, bob_auth, HELLO, labels=upload({"batchsite-project": "genomics/exomes"}, "l.json"))
    assert response.status_code == 403
    response = submit(client, bob_auth, HELLO)
    assert response.status_code == 400 and "project you can submit to" in response.json()["message"]
    assert not Run.objects.exists()


def test_a_requested_workflow_id_becomes_the_runs_id(client, alice_auth):
    wanted = uuid.uuid4()
    response = submit(client, alice_auth, HELLO, requestedWorkflowId=str(wanted))
    assert response.status_code == 201 and response.json()["id"] == str(wanted)
    assert Run.objects.get().pk == wanted and str(wanted) in Run.objects.get().root
    again = submit(client, alice_auth, HELLO, requestedWorkflowId=str(wanted))
    assert again.status_code == 400 and "already in use" in again.json()["message"]


def test_workflow_inputs_n_override_in_order(client, alice_auth):
    response = submit(client, alice_auth, HELLO, {"hello.who": "a"},
                      workflowInputs_3=upload({"hello.who": "c"}, "3.json"),
                      workflowInputs_2=upload({"hello.who": "b"}, "2.json"))
    assert response.status_code == 201
    assert Run.objects.get().inputs == {"hello.who": "c"}


def test_a_batch_starts_one_run_per_inputs_object(client, alice_auth):
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    response = submit(client, alice_auth, HELLO, [{"hello.who": "a"}, {"hello.who": "b"}],
                      url="/api/workflows/v1/batch", requestedWorkflowId=json.dumps(ids))
    assert response.status_code == 201
    assert [item["id"] for item in response.json()] == ids
    assert sorted(r.inputs["hello.who"] for r in Run.objects.all()) == ["a", "b"]


def test_a_batch_with_one_bad_inputs_object_starts_nothing(client, alice_auth):
    response = submit(client, alice_auth, HELLO, [{"hello.who": "a"}, {"hello.nosuch": "b"}],
                      url="/api/workflows/v1/batch")
    assert response.status_code == 400
    assert "workflow 2 of the batch" in response.json()["message"]
    assert not Run.objects.exists()


@pytest.mark.parametrize("named", ["proteomics/secret", "genomics/secret"])
def test_a_batch_naming_another_teams_project_is_refused_and_writes_nothing(client, alice_auth, other_team, named):
    secret = project_create(team=other_team, name="Secret", slug="secret")
    response = submit(client, alice_auth, HELLO, [{"hello.who": "a"}, {"hello.who": "b"}],
                      url="/api/workflows/v1/batch", labels=upload({"batchsite-project": named}, "l.json"))
    assert response.status_code == 400
    assert response.json()["message"] == (f"Label batchsite-project='{named}' names no project of your teams "
                                          "(the form is team-slug/project-slug)")
    assert not Run.objects.exists() and not Workflow.objects.exists() and not WorkflowVersion.objects.exists()
    assert not secret.workflows.exists()


def test_the_single_endpoint_refuses_several_inputs(client, alice_auth):
    response = submit(client, alice_auth, HELLO, [{}, {}])
    assert response.status_code == 400
    assert response.json()["message"] == "To submit more than one workflow at a time, use the batch endpoint."


def test_a_batch_needs_inputs(client, alice_auth):
    response = submit(client, alice_auth, HELLO, url="/api/workflows/v1/batch")
    assert response.status_code == 400 and "No inputs were provided" in response.json()["message"]


def test_imports_come_from_workflow_dependencies(client, alice_auth):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lib.wdl", "version 1.0\ntask t { command <<< echo hi >>> output { String o = read_string(stdout()) } }\n")
    main = b'version 1.0\nimport "lib.wdl" as lib\nworkflow w { call lib.t output { String o = t.o } }\n'
    response = submit(client, alice_auth, main, workflowDependencies=upload(buffer.getvalue(), "deps.zip"))
    assert response.status_code == 201, response.content
    assert Run.objects.get().version.imports


def test_release_hold_lets_the_run_start(client, alice_auth):
    run_id = submit(client, alice_auth, HELLO, workflowOnHold="true").json()["id"]
    response = client.post(f"/api/workflows/v1/{run_id}/releaseHold", **alice_auth)
    assert response.status_code == 200 and response.json() == {"id": run_id, "status": "Submitted"}
    again = client.post(f"/api/workflows/v1/{run_id}/releaseHold", **alice_auth)
    assert again.status_code == 403 and again.json()["status"] == "error"


def test_abort_of_a_run_on_hold_ends_it_at_once(client, alice_auth):
    run_id = submit(client, alice_auth, HELLO, workflowOnHold="true").json()["id"]
    response = client.post(f"/api/workflows/v1/{run_id}/abort", **alice_auth)
    assert response.status_code == 200 and response.json() == {"id": run_id, "status": "Aborted"}
    again = client.post(f"/api/workflows/v1/{run_id}/abort", **alice_auth)  # as Cromwell: it has ended
    assert again.status_code == 404 and again.json() == {
        "status": "error", "message": f"Couldn't abort {run_id} because no workflow with that ID is in progress"}


def test_labels_can_be_read_and_patched(client, alice_auth):
    run_id = submit(client, alice_auth, HELLO, labels=upload({"a": "1"}, "l.json")).json()["id"]
    response = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"b": "2", "a": "3"}',
                            content_type="application/json", **alice_auth)
    assert response.status_code == 200
    expected = {"cromwell-workflow-id": f"cromwell-{run_id}", "a": "3", "b": "2"}
    assert response.json() == {"id": run_id, "labels": expected}
    assert client.get(f"/api/workflows/v1/{run_id}/labels", **alice_auth).json()["labels"] == expected


@pytest.mark.parametrize("body", ['{"a": 1}', "[]", "nope", '{"batchsite-project": "genomics/other"}'])
def test_bad_labels_patches_are_400(client, alice_auth, body):
    run_id = submit(client, alice_auth, HELLO).json()["id"]
    response = client.patch(f"/api/workflows/v1/{run_id}/labels", body, content_type="application/json", **alice_auth)
    assert response.status_code == 400
    assert Run.objects.get().labels == {}


def test_a_nul_character_is_a_400_not_a_database_error(client, alice_auth):
    response = submit(client, alice_auth, HELLO, {"hello.who": "a\u0000b"})
    assert response.status_code == 400 and "NUL" in response.json()["message"]
    run_id = submit(client, alice_auth, HELLO).json()["id"]
    patch = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"k": "\\u0000"}', content_type="application/json",
                         **alice_auth)
    assert patch.status_code == 400
    query = client.get("/api/workflows/v1/query", {"name": "a\x00"}, **alice_auth)
    assert query.status_code == 400
