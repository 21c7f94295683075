"""Each team's submission limits in the browser form and run_wdl, and how operators set them (the API's: tests/api)."""
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from teams.models import AuditEvent, Team
from teams.selectors import team_limits
from tests.api.conftest import HELLO
from tests.workflows.ui_factories import field_block, hello_workflow, make_run
from workflows.models import Run, RunLabel


def limit(team: Team, **values) -> Team:
    Team.objects.filter(pk=team.pk).update(**values)
    team.refresh_from_db()
    return team


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


def launch(client, workflow, **data):
    return client.post(reverse("workflows:launch", args=[workflow.pk]), {"hello.n": "3", **data})


def test_a_team_without_its_own_limits_has_the_sites_and_an_operator_may_set_each(team, settings):
    settings.BATCHSITE_DEFAULT_LIMITS = {**settings.BATCHSITE_DEFAULT_LIMITS, "max_labels_per_run": 7}
    assert team_limits(team)["max_labels_per_run"] == 7
    assert all(isinstance(value, int) and value > 0 for value in team_limits(team).values())
    assert team_limits(limit(team, max_labels_per_run=2, max_runs_per_batch=5)) == {
        **team_limits(Team(slug="x")), "max_labels_per_run": 2, "max_runs_per_batch": 5}


def test_the_admin_shows_each_limit_with_the_site_default_and_audits_a_change(client, operator, team, settings):
    from tests.batchsite.test_admin import team_form

    client.force_login(operator)
    url = reverse("admin:teams_team_change", args=[team.pk])
    page = client.get(url).content.decode()
    for name, default in settings.BATCHSITE_DEFAULT_LIMITS.items():
        assert f'name="{name}"' in page and f"Empty: the site default, {default:,}." in page
    response = client.post(url, team_form(team, max_labels_per_run=3, max_queued_runs=0))
    assert response.status_code == 200 and "greater than or equal to 1" in response.content.decode()
    response = client.post(url, team_form(team, max_labels_per_run=3))
    assert response.status_code == 302
    assert team_limits(Team.objects.get(pk=team.pk))["max_labels_per_run"] == 3
    change = AuditEvent.objects.get(action=AuditEvent.Action.TEAM_CHANGE)
    assert change.details["changes"]["max_labels_per_run"] == {"old": None, "new": 3}


# ---- the browser form --------------------------------------------------------------------

def test_the_form_refuses_an_inputs_file_over_the_teams_limit_before_reading_it(client, alice, team, workflow):
    limit(team, max_input_bytes_per_run=100)
    client.force_login(alice)
    big = json.dumps({"hello.n": 3, "hello.who": "x" * 200}).encode()
    response = launch(client, workflow, inputs_file=SimpleUploadedFile("i.json", big))
    assert response.status_code == 400
    assert f"the file is {len(big)} bytes; at most 100 are allowed" in field_block(response.content.decode(), "inputs_file")
    assert not Run.objects.exists()


def test_the_form_names_the_input_over_the_per_value_limit(client, alice, team, workflow):
    limit(team, max_input_bytes_per_value=50)
    client.force_login(alice)
    response = launch(client, workflow, **{"hello.who": "y" * 60})
    assert response.status_code == 400
    assert "is 62 bytes of JSON; at most 50 are allowed per input" in field_block(response.content.decode(), "hello.who")
    assert launch(client, workflow, **{"hello.who": "y" * 40}).status_code == 302


def test_the_form_refuses_more_labels_than_the_team_allows(client, alice, team, workflow):
    limit(team, max_labels_per_run=2)
    client.force_login(alice)
    response = launch(client, workflow, labels="a=1\nb=2\nc=3")
    assert response.status_code == 400
    assert "3 labels given: at most 2 are allowed per run" in field_block(response.content.decode(), "labels")
    assert launch(client, workflow, labels="a=1\nb=2").status_code == 302
    assert dict(RunLabel.objects.values_list("key", "value")) == {"a": "1", "b": "2"}


def test_no_run_starts_while_the_team_has_its_limit_of_unfinished_runs(client, alice, team, workflow):
    limit(team, max_queued_runs=2)
    make_run(workflow, alice, status=Run.Status.RUNNING)
    make_run(workflow, alice, status=Run.Status.SUCCEEDED)  # finished: not counted
    client.force_login(alice)
    assert launch(client, workflow).status_code == 302
    response = launch(client, workflow)
    assert response.status_code == 400
    assert "team genomics has 2 runs not finished (its limit is 2)" in response.content.decode()
    assert Run.objects.count() == 3


# ---- run_wdl -------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_run_wdl_keeps_the_teams_limits(tmp_path, team, project):
    limit(team, max_input_bytes_per_value=10)
    (tmp_path / "hello.wdl").write_bytes(HELLO)
    (tmp_path / "inputs.json").write_text(json.dumps({"hello.who": "a long name"}))
    with pytest.raises(CommandError, match="hello.who: is 13 bytes of JSON; at most 10 are allowed per input"):
        call_command("run_wdl", str(tmp_path / "hello.wdl"), "--inputs", str(tmp_path / "inputs.json"),
                     "--team", "genomics", "--project", "exomes", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_run_wdl_refuses_an_inputs_file_over_the_teams_limit_before_reading_it(tmp_path, team, project):
    limit(team, max_input_bytes_per_run=20)
    (tmp_path / "hello.wdl").write_bytes(HELLO)
    (tmp_path / "inputs.json").write_text('{"hello.who": ' + "1" * 40)  # not JSON: never parsed
    with pytest.raises(CommandError, match="the inputs are 54 bytes; at most 20 are allowed"):
        call_command("run_wdl", str(tmp_path / "hello.wdl"), "--inputs", str(tmp_path / "inputs.json"),
                     "--team", "genomics", "--project", "exomes", stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


def test_a_wdl_file_over_the_size_limit_is_refused_by_its_field_before_it_is_read(client, alice, project, monkeypatch):
    import workflows.forms

    monkeypatch.setattr(workflows.forms, "MAX_SOURCE_BYTES", 10)
    client.force_login(alice)
    url = reverse("workflows:create", args=[project.team.slug, project.slug])
    response = client.post(url, {"name": "W", "source": SimpleUploadedFile("w.wdl", HELLO)})
    assert response.status_code == 400
    assert f"the file is {len(HELLO)} bytes; at most 10 are allowed" in field_block(response.content.decode(), "source")


def test_the_admin_team_form_refuses_a_nul_in_every_text_field(client, operator, team):
    from tests.batchsite.test_admin import team_form

    client.force_login(operator)
    url = reverse("admin:teams_team_change", args=[team.pk])
    for name in ("name", "slug", "prefix_root", "allowed_role_arns", "default_role_arn", "registry_credential_arn"):
        response = client.post(url, team_form(team, **{name: "x\x00y"}))
        assert response.status_code == 200 and 'class="errorlist' in response.content.decode(), name
    assert Team.objects.get(pk=team.pk).name == "Genomics"
