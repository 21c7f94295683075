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
