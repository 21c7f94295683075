"""POST /runs: where a run lands, the team's limits and budgets, and every bad RunRequest (ErrorResponse, nothing written)."""
import json

import pytest

from teams.services import budget_set, membership_set, project_create, user_create
from teams.models import Membership
from tests.wes.conftest import ATTACHED, GREET, MAIN, WES, basic, run_request, wes_post
from tests.workflows.test_budgets import spend
from tests.workflows.test_limits import limit
from workflows.models import Run, Workflow, WorkflowVersion
from workflows.services.versions import MAX_SOURCE_BYTES

pytestmark = pytest.mark.django_db


def _refused(response, status: int = 400, *, runs: int = 0, versions: int = 0) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status
    assert Run.objects.count() == runs and WorkflowVersion.objects.count() == versions  # nothing written
    return body["msg"]


def test_a_run_lands_in_the_default_project_unless_a_tag_or_parameter_names_another(client, alice_auth, team, project):
    panels = project_create(team=team, name="Panels", slug="panels")
    default = wes_post(client, alice_auth, run_request())
    by_tag = wes_post(client, alice_auth, run_request(tags={"batchsite-project": "genomics/panels"}))
    by_parameter = wes_post(client, alice_auth, run_request(
        workflow_engine_parameters={"batchsite-project": "genomics/panels", "read_from_cache": False}))

    assert Run.objects.get(pk=default.json()["run_id"]).project == project  # Exomes sorts before Panels
    tagged = Run.objects.get(pk=by_tag.json()["run_id"])
    parameter = Run.objects.get(pk=by_parameter.json()["run_id"])
    assert tagged.project == panels and tagged.labels == {"batchsite-project": "genomics/panels"}
    assert parameter.project == panels and parameter.labels == {"batchsite-project": "genomics/panels"}
    assert parameter.options == {"read_from_cache": False}
    assert Workflow.objects.filter(name="hello").count() == 2  # one per project, named after the WDL


def test_a_project_that_is_not_the_users_is_refused(client, alice_auth, carol_auth, team, project, other_team):
    project_create(team=other_team, name="Carol's", slug="carols")
    foreign = _refused(wes_post(client, alice_auth, run_request(tags={"batchsite-project": "proteomics/carols"})))
    assert "names no project of your teams" in foreign
    both = _refused(wes_post(client, alice_auth, run_request(tags={"batchsite-project": "genomics/exomes"},
                                                             workflow_engine_parameters={"batchsite-project": "x/y"})))
    assert "tag ('genomics/exomes') and workflow engine parameter ('x/y') name different projects" in both
    nobody = user_create(username="dave", password="pw")
    from teams.services import api_token_create
    lonely = _refused(wes_post(client, basic("dave", api_token_create(user=nobody, name="t")[1]), run_request()))
    assert "is in no team" in lonely


def test_a_viewer_cannot_submit(client, bob_auth, team, project, bob):
    msg = _refused(wes_post(client, bob_auth, run_request(tags={"batchsite-project": "genomics/exomes"})), 403)
    assert "viewers cannot submit" in msg
    membership_set(team=team, user=bob, role=Membership.Role.VIEWER)
    assert "None of your teams has a project you can submit to" in _refused(wes_post(client, bob_auth, run_request()))


def test_a_team_over_its_budget_cannot_submit(client, alice_auth, team, project, alice, operator):
    budget_set(team=team, monthly_limit=100, user=operator)
    spend(project, alice, "100.00")  # on a run of its own
    msg = _refused(wes_post(client, alice_auth, run_request()), runs=1, versions=1)
    assert "the monthly budget of team genomics is spent: 100.00 of 100.00 USD" in msg
    assert "running work continues" in msg
    assert not Workflow.objects.filter(name="hello").exists()

    budget_set(team=team, monthly_limit=200, user=operator)  # an operator raises it
    assert wes_post(client, alice_auth, run_request()).status_code == 200


def test_the_teams_limits_apply(client, alice_auth, team, project):
    limit(team, max_queued_runs=1)
    assert wes_post(client, alice_auth, run_request()).status_code == 200
    assert "so another run cannot start" in wes_post(client, alice_auth, run_request()).json()["msg"]
    Run.objects.all().delete()
    WorkflowVersion.objects.all().delete()
    limit(team, max_queued_runs=10, max_labels_per_run=1, max_input_bytes_per_value=20)
    labels = _refused(wes_post(client, alice_auth, run_request(tags={"a": "1", "b": "2"})))
    assert labels == "tags: 2 labels given: at most 1 are allowed per run"
    value = _refused(wes_post(client, alice_auth, run_request(params={"hello.who": "y" * 30})))
    assert value == "workflow_params: hello.who: is 32 bytes of JSON; at most 20 are allowed per input"


@pytest.mark.parametrize("parts, message", [
    ({"workflow_url": "https://example.org/main.wdl"}, "workflow_url 'https://example.org/main.wdl' is absolute: "
     "this server runs only attached workflows"),
    ({"workflow_url": "/etc/main.wdl"}, "workflow_url '/etc/main.wdl' is absolute"),
    ({"workflow_url": "other.wdl"}, "workflow_url 'other.wdl' names no workflow_attachment (attached: lib/greet.wdl, "
     "main.wdl)"),
    ({"workflow_url": None}, "workflow_url is required"),
    ({"workflow_type": "CWL"}, "workflow_type 'CWL' is not supported: this server runs WDL only"),
    ({"workflow_type": None}, "workflow_type is required: WDL"),
    ({"workflow_type_version": "1.2"}, "workflow_type_version '1.2' is not supported: one of draft-2, 1.0, 1.1"),
    ({"workflow_engine": "cromwell"}, "workflow_engine 'cromwell' is not supported: this server's engine is Batchsite"),
    ({"workflow_engine_version": "87"}, "workflow_engine_version needs workflow_engine"),
    ({"workflow_engine": "Batchsite", "workflow_engine_version": "87"}, "workflow_engine_version '87' is not supported"),
    ({"workflow_params": "[1, 2]"}, "workflow_params must be a JSON object ({...}), not list"),
    ({"workflow_params": "{"}, "workflow_params is not valid JSON: Expecting property name"),
    ({"workflow_params": '{"hello.nope": 1}'}, "workflow_params: hello.nope: unknown input"),
    ({"workflow_params": '{"hello.who": "\\u0000"}'}, "workflow_params: hello.who: contains a NUL character"),
    ({"tags": '{"sample": 1}'}, "tags: Invalid label sample: 1 : Labels must be strings"),
    ({"tags": '"x"'}, "tags must be a JSON object ({...}), not str"),
    ({"workflow_engine_parameters": '{"read_from_cache": "yes"}'},
     "read_from_cache: the read_from_cache option must be true or false"),
    ({"workflow_engine_parameters": '{"backend": "Mars"}'}, 'no provider named "Mars"'),
    ({"surprise": "1"}, "Unexpected part 'surprise': a RunRequest has tags, workflow_attachment"),
])
def test_a_bad_part_is_a_400_naming_it(client, alice_auth, project, parts, message):
    response = wes_post(client, alice_auth, run_request(**{k: v for k, v in parts.items()
                                                            if k not in ("workflow_url",)},
                                                         **({"url": parts["workflow_url"]} if "workflow_url" in parts
                                                            else {})))
    assert message in _refused(response)


def test_parts_sent_twice_and_attachments_sent_as_text_are_refused(client, alice_auth, project):
    twice = _refused(wes_post(client, alice_auth, run_request(extra=[("workflow_params", "{}")])))
    assert "workflow_params was sent 2 times; send it once" in twice
    as_text = _refused(wes_post(client, alice_auth, run_request(extra=[("workflow_attachment", "version 1.0")])))
    assert "workflow_attachment parts must be files with a filename" in as_text
    duplicate = _refused(wes_post(client, alice_auth, run_request(extra=[("workflow_attachment", ("main.wdl", MAIN))])))
    assert "workflow_attachment main.wdl was sent twice" in duplicate


@pytest.mark.parametrize("name", ["../greet.wdl", "/abs/greet.wdl", "lib/../../greet.wdl", "s3://b/greet.wdl"])
def test_an_attachment_outside_the_workflows_folder_is_refused(client, alice_auth, project, name):
    msg = _refused(wes_post(client, alice_auth, run_request({**ATTACHED, name: GREET})))
    assert f"workflow_attachment {name!r} is not a relative path inside the workflow's folder" in msg
    dots = _refused(wes_post(client, alice_auth, run_request({**ATTACHED, "lib/..": GREET})))
    assert "Could not derive file name from '..'" in dots  # Django's own check, before ours


def test_a_main_file_in_a_folder_imports_beside_it_and_nothing_above(client, alice_auth, project):
    response = wes_post(client, alice_auth, run_request({"wf/main.wdl": MAIN, "wf/lib/greet.wdl": GREET},
                                                        url="wf/main.wdl"))
    assert response.status_code == 200, response.content
    Run.objects.all().delete()
    WorkflowVersion.objects.all().delete()
    above = _refused(wes_post(client, alice_auth, run_request({"wf/main.wdl": MAIN, "lib/greet.wdl": GREET},
                                                              url="wf/main.wdl")))
    assert "workflow_attachment lib/greet.wdl lies outside the folder of workflow_url wf/main.wdl" in above


def test_a_missing_import_and_bad_wdl_name_the_file_and_line(client, alice_auth, project):
    missing = _refused(wes_post(client, alice_auth, run_request({"main.wdl": MAIN})))
    assert "main.wdl:2:1: lib/greet.wdl" in missing
    broken = _refused(wes_post(client, alice_auth, run_request({"main.wdl": b"version 1.0\nworkflow {"})))
    assert "main.wdl:2" in broken


def test_what_is_too_big_is_413(client, alice_auth, project):
    big = _refused(wes_post(client, alice_auth, run_request({**ATTACHED, "big.txt": b"x" * (MAX_SOURCE_BYTES + 1)})), 413)
    assert f"workflow_attachment big.txt is {MAX_SOURCE_BYTES + 1:,} bytes" in big
    fields = _refused(wes_post(client, alice_auth, run_request(tags=json.dumps({"x": "y" * 3_000_000}))), 413)
    assert "send a large workflow_params as a file part" in fields
    many = _refused(wes_post(client, alice_auth, run_request({**ATTACHED, **{f"f{i}.txt": b"" for i in range(100)}})),
                    413)
    assert "Too many attachments: at most 100 files" in many


def test_workflow_params_may_come_as_a_file_part(client, alice_auth, project):
    parts = [p for p in run_request() if p[0] != "workflow_params"]
    parts.append(("workflow_params", ("params.json", json.dumps({"hello.who": "Bo"}).encode())))
    response = wes_post(client, alice_auth, parts)
    assert response.status_code == 200 and Run.objects.get().inputs == {"hello.who": "Bo"}


def test_bodies_that_are_not_multipart_are_refused(client, alice_auth, project):
    as_json = client.post(f"{WES}/runs", {"workflow_url": "main.wdl"}, content_type="application/json", **alice_auth)
    assert "POST /runs takes multipart/form-data" in _refused(as_json, 415)
    broken = client.post(f"{WES}/runs", b"--xyz\r\ngarbage", content_type="multipart/form-data; boundary=xyz",
                         **alice_auth)
    assert broken.status_code == 400 and broken.json()["status_code"] == 400
