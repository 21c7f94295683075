import pytest
from django.urls import reverse

from teams.models import AuditEvent
from teams.services import audit_record
from tests.conftest import ALICE_ROLE


RUN_ID = "6f1c2a9e-58a1-4c3b-9a57-0d2f4e8b1c3d"


@pytest.fixture
def events(team, alice):
    audit_record(team=team, user=alice, action=AuditEvent.Action.SUBMIT, target=f"run {RUN_ID}",
                 role_arn=ALICE_ROLE, script_prefix="teams/genomics/")
    audit_record(team=team, user=None, action=AuditEvent.Action.CLEANUP, target="retention", objects=3)


def test_a_team_admin_reads_the_audit_trail_newest_first(client, alice, events):
    client.force_login(alice)
    response = client.get(reverse("teams:audit", args=["genomics"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("Cleaned up") < page.index("Submitted a run")
    assert ALICE_ROLE in page and "teams/genomics/" in page and "(system)" in page
    assert f'href="/runs/{RUN_ID}/"' in page


def test_the_dashboard_links_the_audit_trail_for_admins_only(client, alice, bob, events):
    client.force_login(alice)
    assert "Audit trail" in client.get(reverse("teams:dashboard")).content.decode()
    client.force_login(bob)
    assert "Audit trail" not in client.get(reverse("teams:dashboard")).content.decode()


def test_a_viewer_gets_403(client, bob, events):
    client.force_login(bob)
    assert client.get(reverse("teams:audit", args=["genomics"])).status_code == 403


def test_an_outsider_gets_404(client, carol, other_team, events):
    client.force_login(carol)
    assert client.get(reverse("teams:audit", args=["genomics"])).status_code == 404
    assert client.get(reverse("teams:audit", args=["no-such-team"])).status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, events):
    response = client.get(reverse("teams:audit", args=["genomics"]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
