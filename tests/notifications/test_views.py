"""The notification pages: a user's opt-in; a team's webhooks for its admins only (404 outsiders, 403 members),
the secret shown once; the delivery log in the admin, without secrets."""
import pytest
from django.urls import reverse

from notifications.models import EmailPreference, Webhook, WebhookDelivery
from notifications.services import webhook_create
from teams.models import AuditEvent
from tests.workflows.ui_factories import hello_workflow, make_run


@pytest.fixture
def hook(team, alice):
    webhook, _ = webhook_create(team=team, url="https://hooks.example.org/genomics", user=alice)
    return webhook


def test_a_user_opts_in_and_out_of_email(client, bob):
    client.force_login(bob)
    url = reverse("notification_preferences")
    assert "Email me when my runs end" in client.get(url).content.decode()
    response = client.post(url, {"email": "bob@example.org", "runs_ended": "on"})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.email == "bob@example.org" and EmailPreference.objects.get(user=bob).runs_ended
    client.post(url, {"email": "bob@example.org"})
    assert not EmailPreference.objects.get(user=bob).runs_ended


@pytest.mark.parametrize("data, problem", [
    ({"email": "", "runs_ended": "on"}, "an address is needed to email you"),
    ({"email": "not-an-address", "runs_ended": "on"}, "Enter a valid email address."),
    ({"email": "a\x00@example.org"}, "Null characters are not allowed."),
    ({"email": "a" * 300 + "@example.org"}, "at most 254 characters"),
])
def test_bad_preferences_are_refused(client, bob, data, problem):
    client.force_login(bob)
    response = client.post(reverse("notification_preferences"), data)
    assert response.status_code == 400 and problem in response.content.decode()
    assert not EmailPreference.objects.exists()


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(client, alice, team):
    client.force_login(alice)
    url = reverse("webhooks", args=[team.slug])
    response = client.post(url, {"url": "https://hooks.example.org/batchsite"})
    hook = Webhook.objects.get()
    assert response.status_code == 201 and hook.secret in response.content.decode()
    page = client.get(url).content.decode()
    assert "https://hooks.example.org/batchsite" in page and hook.secret not in page
    response = client.post(reverse("webhook_rotate", args=[hook.pk]))
    old, hook = hook.secret, Webhook.objects.get()
    assert hook.secret != old and hook.secret in response.content.decode() and hook.secret_rotated
    client.post(reverse("webhook_active", args=[hook.pk]), {"active": "0"})
    assert not Webhook.objects.get().active
    assert AuditEvent.objects.filter(team=team, target=f"webhook {hook.pk}").count() == 3
    client.post(reverse("webhook_delete", args=[hook.pk]))
    assert not Webhook.objects.exists()


@pytest.mark.parametrize("url, problem", [
    ("ftp://example.org/", "http:// or https://"),
    ("http://10.0.0.5/hook", "private or loopback"),
    ("https://example.org/\x00", "Null characters are not allowed."),
    ("https://example.org/" + "x" * 2100, "at most 2000 characters"),
    ("", "This field is required."),
])
def test_bad_webhook_urls_are_refused_on_the_form(client, alice, team, url, problem):
    client.force_login(alice)
    response = client.post(reverse("webhooks", args=[team.slug]), {"url": url})
    assert response.status_code == 400 and problem in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_team_has_at_most_ten_webhooks(client, alice, team):
    client.force_login(alice)
    for i in range(10):
        webhook_create(team=team, url=f"https://hooks.example.org/{i}", user=alice)
    response = client.post(reverse("webhooks", args=[team.slug]), {"url": "https://hooks.example.org/x"})
    assert response.status_code == 400 and "10 webhooks, the most allowed" in response.content.decode()


def test_outsiders_get_404_and_members_who_are_not_admins_403(client, bob, carol, other_team, hook):
    pages = [("get", reverse("webhooks", args=["genomics"])), ("post", reverse("webhooks", args=["genomics"])),
             ("post", reverse("webhook_rotate", args=[hook.pk])), ("post", reverse("webhook_active", args=[hook.pk])),
             ("post", reverse("webhook_delete", args=[hook.pk]))]
    for user, status in ((carol, 404), (bob, 403)):
        client.force_login(user)
        for method, url in pages:
            response = getattr(client, method)(url, {"url": "https://evil.example.org/"} if method == "post" else None)
            assert response.status_code == status, (user, url)
            assert hook.secret not in response.content.decode()
    hook.refresh_from_db()
    assert hook.active and Webhook.objects.count() == 1 and hook.url == "https://hooks.example.org/genomics"


def test_the_dashboard_links_admins_to_webhooks(client, alice, bob, team):
    url = reverse("webhooks", args=[team.slug])
    client.force_login(alice)
    assert url in client.get(reverse("teams:dashboard")).content.decode()
    client.force_login(bob)
    assert url not in client.get(reverse("teams:dashboard")).content.decode()


def test_the_admin_shows_the_delivery_log_and_never_a_secret(client, operator, alice, project, hook):
    run = make_run(hello_workflow(project, alice), alice)
    WebhookDelivery.objects.create(webhook=hook, run=run, run_ended=run.submitted, payload={}, status="failed",
                                   attempts=6, status_code=503, error="the receiver answered 503 Service Unavailable")
    client.force_login(operator)
    page = client.get(reverse("admin:notifications_webhookdelivery_changelist")).content.decode()
    assert "503 Service Unavailable" in page and "hooks.example.org/genomics" in page
    page = client.get(reverse("admin:notifications_webhook_change", args=[hook.pk])).content.decode()
    assert hook.url in page and hook.secret not in page
