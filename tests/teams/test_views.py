import html

import pytest
from django.urls import reverse


@pytest.fixture
def wdl_workflow(project, alice):
    from workflows.services import workflow_create

    source = b'version 1.0\nworkflow hi { input { String who = "x" } output { String o = who } }\n'
    return workflow_create(project=project, name="Hi", source=source, filename="hi.wdl", user=alice)


def test_the_dashboard_needs_a_login(client, db):
    response = client.get(reverse("teams:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_alice_sees_her_team_projects_and_workflows(client, alice, wdl_workflow, other_team):
    client.force_login(alice)
    page = client.get(reverse("teams:dashboard")).content.decode()
    assert "Genomics" in page and "Exomes" in page and "Hi" in page
    assert "Proteomics" not in page
    assert "New workflow" in page


def test_bob_the_viewer_sees_the_team_but_cannot_create(client, bob, wdl_workflow):
    client.force_login(bob)
    page = client.get(reverse("teams:dashboard")).content.decode()
    assert "Genomics" in page and "Hi" in page
    assert "New workflow" not in page


def test_carol_sees_none_of_alices_team(client, carol, other_team, wdl_workflow):
    client.force_login(carol)
    page = client.get(reverse("teams:dashboard")).content.decode()
    assert "Proteomics" in page
    assert "Genomics" not in page and "Exomes" not in page


def test_the_login_page_logs_alice_in(client, alice, team):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"}, follow=True)
    assert response.status_code == 200
    assert "Genomics" in response.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_the_dashboard_shows_slots_in_use_per_team_and_project_and_recent_runs(client, alice, team, project):
    from teams.services import project_create
    from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
    from workflows.models import Call, Run

    pilot = project_create(team=team, name="Pilot", slug="pilot", max_running_jobs=2)
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    make_calls(run, 6, status=Call.Status.RUNNING)
    make_calls(run, 41, status=Call.Status.QUEUED, fqn="hello.later")
    client.force_login(alice)
    page = client.get(reverse("teams:dashboard")).content.decode()
    assert "running <strong>6</strong> / cap 8, queued <strong>41</strong>" in page
    assert "running 6 / cap 8, queued 41" in page  # the Exomes project
    assert "running 0 / cap 2, queued 0" in page and pilot.name in page
    assert str(run.pk)[:8] in page


def test_the_slots_strip_refreshes_itself(client, bob, team, project):
    client.force_login(bob)
    strip = client.get(reverse("teams:slots", args=[team.slug]), headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 3s"' in strip and "running <strong>0</strong> / cap 8" in strip
    assert "<html" not in strip


def test_a_team_without_runs_says_how_to_start(client, alice, wdl_workflow):
    client.force_login(alice)
    assert "No runs yet" in client.get(reverse("teams:dashboard")).content.decode()


def test_carol_gets_404_on_the_slots_of_alices_team(client, carol, other_team, team):
    client.force_login(carol)
    assert client.get(reverse("teams:slots", args=[team.slug])).status_code == 404
    assert client.get(reverse("teams:slots", args=["no-such-team"])).status_code == 404


@pytest.mark.django_db
def test_a_team_admin_sets_the_teams_cost_tags_and_the_change_is_audited(client, team, alice):
    from teams.models import AuditEvent

    client.force_login(alice)
    response = client.post(reverse("teams:cost_tags", args=[team.slug]), {"cost_tags": "CostCenter = CC-42\nGrant=R01\n"})

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.cost_tags == {"CostCenter": "CC-42", "Grant": "R01"}
    event = AuditEvent.objects.get(team=team, action=AuditEvent.Action.TEAM_CHANGE)
    assert event.user == alice and event.details["changes"]["cost_tags"] == {
        "old": {}, "new": {"CostCenter": "CC-42", "Grant": "R01"}}
    assert "CostCenter=CC-42" in client.get(reverse("teams:dashboard")).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("text, problem", [("CostCenter", "has no '='"), ("batchsite:team=x", "not aws:* or batchsite:*")])
def test_bad_cost_tags_are_refused_naming_the_problem(client, team, alice, text, problem):
    client.force_login(alice)
    response = client.post(reverse("teams:cost_tags", args=[team.slug]), {"cost_tags": text})

    assert response.status_code == 400
    assert problem in html.unescape(response.content.decode())
    team.refresh_from_db()
    assert team.cost_tags == {}


@pytest.mark.django_db
def test_only_the_teams_admins_set_its_cost_tags(client, team, bob, carol):
    client.force_login(bob)
    assert client.post(reverse("teams:cost_tags", args=[team.slug]), {"cost_tags": "A=b"}).status_code == 403
    client.force_login(carol)
    assert client.post(reverse("teams:cost_tags", args=[team.slug]), {"cost_tags": "A=b"}).status_code == 404
    team.refresh_from_db()
    assert team.cost_tags == {}
