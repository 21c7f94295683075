import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

PROJECT_APPS = ("teams", "workflows", "notifications")


def project_models():
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


def test_every_model_is_registered_in_the_admin():
    assert [m.__name__ for m in project_models() if m not in admin.site._registry] == []


@pytest.mark.parametrize("model", project_models(), ids=lambda m: m.__name__)
def test_the_operator_can_list_and_search_every_model(client, operator, team, project, model):
    client.force_login(operator)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    listed = client.get(url)
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == model._default_manager.count()
    if admin.site._registry[model].search_fields:
        assert client.get(url, {"q": "no-such-thing-at-all"}).context["cl"].result_count == 0
    found = client.get(url, {"q": "genomics"})
    assert found.status_code == 200
    if model._meta.model_name == "team":
        assert found.context["cl"].result_count == 1 and "Genomics" in found.content.decode()


def test_a_team_admin_who_is_not_staff_cannot_reach_the_admin(client, alice, team):
    client.force_login(alice)
    response = client.get(reverse("admin:teams_team_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_team_form_rejects_a_malformed_allowlist(client, operator):
    client.force_login(operator)
    response = client.post(reverse("admin:teams_team_add"), {
        "name": "X", "slug": "x", "prefix_root": "/bad", "allowed_role_arns": "not-an-arn",
        "max_running_jobs": 4, "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
        "projects-TOTAL_FORMS": 0, "projects-INITIAL_FORMS": 0,
    })
    assert response.status_code == 200
    page = response.content.decode()
    assert "must not start with &#x27;/&#x27;" in page and "is not an IAM role ARN" in page


def team_form(team, **changes):
    data = {"name": team.name, "slug": team.slug, "prefix_root": team.prefix_root,
            "allowed_role_arns": "\n".join(team.allowed_role_arns), "default_role_arn": team.default_role_arn,
            "max_running_jobs": team.max_running_jobs, "max_queued_jobs": "", "registry_credential_arn": "",
            "retention-TOTAL_FORMS": 0, "retention-INITIAL_FORMS": 0,
            "memberships-TOTAL_FORMS": 0, "memberships-INITIAL_FORMS": 0,
            "projects-TOTAL_FORMS": 0, "projects-INITIAL_FORMS": 0}
    return {**data, **changes}


def test_a_cap_or_allowlist_change_in_the_admin_is_audited_with_old_and_new_values(client, operator, team):
    from teams.models import AuditEvent
    from tests.conftest import ALICE_ROLE

    client.force_login(operator)
    response = client.post(reverse("admin:teams_team_change", args=[team.pk]),
                           team_form(team, max_running_jobs=3, allowed_role_arns=ALICE_ROLE))
    assert response.status_code == 302, response.content.decode()[:3000]
    event = AuditEvent.objects.get(team=team, action=AuditEvent.Action.TEAM_CHANGE)
    assert event.user == operator
    assert event.details["changes"]["max_running_jobs"] == {"old": 8, "new": 3}
    assert event.details["changes"]["allowed_role_arns"]["new"] == [ALICE_ROLE]
    assert "prefix_root" not in event.details["changes"]
    client.post(reverse("admin:teams_team_change", args=[team.pk]), team_form(
        team, max_running_jobs=3, allowed_role_arns=ALICE_ROLE))  # no change: nothing recorded
    assert AuditEvent.objects.filter(team=team, action=AuditEvent.Action.TEAM_CHANGE).count() == 1


def test_the_operator_can_preview_and_run_cleanup_and_abort_runs(client, operator, team, project, alice):
    from teams.models import AuditEvent
    from tests.workflows.ui_factories import hello_workflow, make_run
    from workflows.models import CleanupReport, Run

    workflow = hello_workflow(project, alice)
    running = make_run(workflow, alice, status=Run.Status.RUNNING)
    client.force_login(operator)
    changelist = reverse("admin:teams_team_changelist")
    page = client.post(changelist, {"action": "preview_cleanup", "_selected_action": [team.pk]}, follow=True)
    assert "Genomics: would delete 0 expired scripts (0 bytes)." in page.content.decode()
    page = client.post(changelist, {"action": "run_cleanup", "_selected_action": [team.pk]}, follow=True)
    assert "Genomics: deleted 0 expired scripts (0 bytes)." in page.content.decode()
    assert list(CleanupReport.objects.filter(team=team).values_list("dry_run", flat=True).order_by("pk")) == [True, False]

    page = client.post(reverse("admin:workflows_run_changelist"),
                       {"action": "abort_runs", "_selected_action": [running.pk]}, follow=True)
    assert "1 run(s) aborting" in page.content.decode()
    running.refresh_from_db()
    assert running.status in (Run.Status.ABORTING, Run.Status.ABORTED)
    assert AuditEvent.objects.filter(team=team, action=AuditEvent.Action.ABORT, user=operator).exists()


def test_aws_secrets_are_not_in_the_admin(client, operator, team):
    client.force_login(operator)
    page = client.get(reverse("admin:teams_team_change", args=[team.pk])).content.decode()
    assert "secret_access_key" not in page.lower() and "aws_secret" not in page.lower()


def test_an_operator_sets_a_teams_engine_limits_in_the_admin_and_empty_means_the_site_default(
        client, operator, team, settings):
    from teams.models import AuditEvent

    client.force_login(operator)
    url = reverse("admin:teams_team_change", args=[team.pk])
    page = client.get(url).content.decode()
    assert 'name="max_calls_per_run"' in page and 'name="max_engine_state_bytes"' in page
    response = client.post(url, team_form(team, max_calls_per_run=20000, max_engine_state_bytes=2**20))
    assert response.status_code == 302, response.content.decode()[:3000]
    team.refresh_from_db()
    assert (team.limit("max_calls_per_run"), team.limit("max_engine_state_bytes")) == (20000, 2**20)
    changes = AuditEvent.objects.get(team=team, action=AuditEvent.Action.TEAM_CHANGE).details["changes"]
    assert changes["max_calls_per_run"] == {"old": None, "new": 20000}
    response = client.post(url, team_form(team, max_calls_per_run=0, max_engine_state_bytes=10))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 1." in page
    assert "Ensure this value is greater than or equal to 1024." in page
    client.post(url, team_form(team, max_calls_per_run="", max_engine_state_bytes=""))
    team.refresh_from_db()
    assert team.max_calls_per_run is None
    assert team.limit("max_calls_per_run") == settings.BATCHSITE_DEFAULT_LIMITS["max_calls_per_run"] == 100_000
