import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

PROJECT_APPS = ("teams", "workflows")


def project_models():
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]


def test_every_model_is_registered_in_the_admin():
    assert [m.__name__ for m in project_models() if m not in admin.site._registry] == []


@pytest.mark.parametrize("model", project_models(), ids=lambda m: m.__name__)
def test_the_operator_can_list_and_search_every_model(client, operator, team, project, model):
    client.force_login(operator)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert client.get(url).status_code == 200
    assert client.get(url, {"q": "genomics"}).status_code == 200


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
