"""A run's end is told once: by email to its submitter if they opted in (a local SMTP server receives it), and
to each team webhook as signed JSON (a local HTTP receiver checks the signature), retried with backoff."""
import datetime
import socket
import ssl
import subprocess
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.models import Delivery, EmailDelivery, WebhookDelivery
from notifications.services import (
    ATTEMPTS, email_preference_set, run_end_announce, webhook_create, webhook_rotate, webhook_set_active,
    webhook_url_check,
)
from notifications.tasks import email_send_task, run_end_announce_task, webhook_deliver_task
from tests.browser import free_port
from tests.notifications.receivers import smtp_server, webhook_receiver
from tests.runs import Eager, drive, submit
from workflows.models import Run
from workflows.services import run_abort

HELLO = """version 1.0
workflow hello {
  input { String who = "world"  Int rc = 0 }
  call greet { input: who = who, rc = rc }
  output { String out = greet.out }
}
task greet {
  input { String who  Int rc }
  command <<< echo "hello ~{who}"; exit ~{rc} >>>
  output { String out = read_string(stdout()) }
}
"""

pytestmark = pytest.mark.django_db(transaction=True)


def run_to_end(project, user, name: str = "hello", **inputs) -> Run:
    with Eager():
        return drive(submit(project, user, HELLO, {f"hello.{k}": v for k, v in inputs.items()}, name=name))


@pytest.fixture
def hook(team, alice, settings):
    """Alice's team's webhook to a local receiver that knows its secret."""
    settings.BATCHSITE_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    with webhook_receiver() as receiver:
        webhook, receiver.secret = webhook_create(team=team, url=receiver.url, user=alice)
        receiver.webhook = webhook
        yield receiver


def test_a_run_end_emails_its_submitter_who_opted_in_once(project, alice, bob, settings):
    email_preference_set(user=alice, runs_ended=True, email="alice@example.org")
    with smtp_server(settings) as inbox:
        run = run_to_end(project, alice, who="mail")
        assert run.status == "Succeeded"
        assert len(inbox) == 1
        recipients, message = inbox[0]
        assert recipients == ["alice@example.org"]
        assert message["Subject"] == f"[Batchsite] Succeeded: hello v1 run {str(run.pk)[:8]}"
        assert f"/runs/{run.pk}/" in message.get_payload()
        with Eager():  # repeated tasks send nothing more
            run_end_announce_task.delay(str(run.pk))
            email_send_task.delay(EmailDelivery.objects.get().pk)
        assert len(inbox) == 1
        bobs = run_to_end(project, bob, name="bobs")  # bob did not opt in
        assert bobs.status == "Succeeded" and len(inbox) == 1
    delivery = EmailDelivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED and delivery.attempts == 1


def test_an_unreachable_mail_server_is_retried_then_logged(project, alice, settings):
    email_preference_set(user=alice, runs_ended=True, email="alice@example.org")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    run_to_end(project, alice)
    delivery = EmailDelivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == ATTEMPTS
    assert "ConnectionRefusedError" in delivery.error


def test_a_webhook_gets_a_signed_json_body_once_per_run_end(project, alice, hook):
    run = run_to_end(project, alice, who="hook")
    assert len(hook.received) == 1
    received = hook.received[0]
    assert received.signed
    assert received.headers["X-Batchsite-Event"] == "run.ended"
    body = received.json
    assert body["event"] == "run.ended"
    assert body["run"]["id"] == str(run.pk) and body["run"]["status"] == "Succeeded"
    assert body["run"]["team"] == "genomics" and body["run"]["workflow"] == "hello" and body["run"]["ended"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.status_code, delivery.attempts) == (Delivery.Status.DELIVERED, 200, 1)
    with Eager():
        run_end_announce(run_id=run.pk)
        webhook_deliver_task.delay(delivery.pk)
    assert len(hook.received) == 1


def test_a_failed_run_is_told_with_its_failures_and_a_run_that_ends_again_is_told_again(project, alice, hook):
    run = run_to_end(project, alice, rc=3)
    assert run.status == "Failed"
    assert hook.received[0].json["run"]["failures"][0].startswith("hello.greet failed")
    Run.objects.filter(pk=run.pk).update(ended=timezone.now())  # as a retry of its failed calls would end it
    with Eager():
        run_end_announce(run_id=run.pk)
    assert len(hook.received) == 2 and WebhookDelivery.objects.count() == 2


def test_an_aborted_run_on_hold_is_told(project, alice, hook):
    from workflows.services import run_submit, workflow_create

    workflow = workflow_create(project=project, name="held", source=HELLO.encode(), user=alice)
    run = run_submit(version=workflow.versions.get(), user=alice, on_hold=True)
    with Eager():
        run_abort(run=run, user=alice)
    assert hook.received[0].json["run"]["status"] == "Aborted"


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(project, alice, hook):
    hook.answers = [503, 500]
    run_to_end(project, alice)
    assert [r.signed for r in hook.received] == [True, True, True]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.status_code, delivery.attempts) == (Delivery.Status.DELIVERED, 200, 3)


def test_a_receiver_that_refuses_is_not_retried_and_the_log_says_why(project, alice, hook):
    hook.answers = [404]
    run_to_end(project, alice)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.status_code, delivery.attempts) == (Delivery.Status.FAILED, 404, 1)
    assert "the receiver answered 404" in delivery.error


def test_a_receiver_that_stays_down_is_tried_at_most_attempts_times(project, alice, hook):
    hook.answers = [503] * 20
    run_to_end(project, alice)
    assert len(hook.received) == ATTEMPTS
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, ATTEMPTS)


def test_a_rotated_secret_signs_the_next_delivery_and_a_webhook_turned_off_gets_nothing(project, alice, hook):
    old = hook.secret
    hook.secret = webhook_rotate(webhook=hook.webhook, user=alice)
    assert hook.secret != old
    run_to_end(project, alice)
    assert hook.received[0].signed
    webhook_set_active(webhook=hook.webhook, active=False, user=alice)
    run_to_end(project, alice, name="second")
    assert len(hook.received) == 1


def test_another_teams_run_is_not_told_to_this_teams_webhook(project, alice, carol, other_team, hook):
    from teams.services import project_create

    run_to_end(project_create(team=other_team, name="P", slug="p"), carol)
    assert hook.received == [] and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("url, problem", [
    ("ftp://example.org/x", "http:// or https://"),
    ("javascript:alert(1)", "http:// or https://"),
    ("https://", "http:// or https://"),
    ("https://user:pw@example.org/x", "no user name or password"),
    ("http://127.0.0.1:9/x", "private or loopback"),
    ("http://169.254.169.254/latest/meta-data/", "private or loopback"),
    ("http://[::1]/x", "private or loopback"),
    ("https://example.org/" + "x" * 2000, "at most 2,000"),
    ("https://example.org:99999/x", "port is not a number from 1 to 65535"),
    ("https://example.org:0/x", "port is not a number from 1 to 65535"),
])
def test_bad_webhook_urls_are_refused(url, problem):
    with pytest.raises(ValidationError) as caught:
        webhook_url_check(url)
    assert problem in str(caught.value)


def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(project, alice, team):
    hook, _ = webhook_create(team=team, url=f"http://localhost:{free_port()}/x", user=alice)
    run_to_end(project, alice)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED and delivery.attempts == 1
    assert "localhost resolves to 127.0.0.1: a private, loopback or link-local address" in delivery.error


@pytest.fixture
def resolver(monkeypatch):
    """Resolve hooks.example.org to loopback; return the list of its lookups."""
    real, asked = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.example.org":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_a_webhook_is_sent_to_the_address_its_name_was_checked_at(project, alice, team, hook, resolver):
    port = urlsplit(hook.url).port
    hook.webhook.url = f"http://hooks.example.org:{port}/hooks/batchsite"
    hook.webhook.save()
    run_to_end(project, alice)
    assert WebhookDelivery.objects.get().status == Delivery.Status.DELIVERED
    # Looked up once: the connection went to the address that was checked, not to a second answer.
    assert resolver == ["hooks.example.org"]
    [received] = hook.received
    assert received.signed and received.headers["Host"] == f"hooks.example.org:{port}"


def _certificate(tmp_path, name: str) -> tuple[str, str]:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(key), str(cert)


@pytest.mark.parametrize("served_as, delivered", [("hooks.example.org", True), ("other.example.org", False)])
def test_an_https_webhook_names_its_host_to_tls_and_checks_its_certificate(
        project, alice, team, hook, resolver, monkeypatch, tmp_path, served_as, delivered):
    key, cert = _certificate(tmp_path, served_as)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    with webhook_receiver(tls=context) as receiver:
        receiver.secret = hook.secret
        hook.webhook.url = f"https://hooks.example.org:{urlsplit(receiver.url).port}/hooks/batchsite"
        hook.webhook.save()
        monkeypatch.setattr(ssl, "_create_default_https_context", lambda: ssl.create_default_context(cafile=cert))
        run_to_end(project, alice)
    delivery = WebhookDelivery.objects.get()
    assert names[:1] == ["hooks.example.org"]  # SNI: the URL's host, not the address
    if delivered:
        assert delivery.status == Delivery.Status.DELIVERED and receiver.received[0].signed
    else:  # a certificate for another name is refused, as it would be without pinning
        assert delivery.status != Delivery.Status.DELIVERED and not receiver.received
        assert "hooks.example.org" in delivery.error and "certificate" in delivery.error.lower()


def test_deliveries_whose_task_was_lost_are_sent_by_the_recovery_and_only_once(project, alice, hook):
    from notifications.services import STALLED, deliveries_recover
    from notifications.tasks import deliveries_recover_task

    with Eager():
        run_a = drive(submit(project, alice, HELLO, name="a"))
        run_b = drive(submit(project, alice, HELLO, name="b"))
        run_c = drive(submit(project, alice, HELLO, name="c"))
    assert len(hook.received) == 3
    hook.received.clear()
    long_ago = timezone.now() - STALLED - datetime.timedelta(seconds=1)
    deliveries = WebhookDelivery.objects.all()
    # a worker killed mid-send; a message lost before its first attempt; the last attempt's worker killed
    deliveries.filter(run=run_a).update(status=Delivery.Status.SENDING, attempted=long_ago)
    deliveries.filter(run=run_b).update(status=Delivery.Status.PENDING, attempts=0, attempted=None, created=long_ago)
    deliveries.filter(run=run_c).update(status=Delivery.Status.SENDING, attempts=ATTEMPTS, attempted=long_ago)
    fresh = deliveries.filter(run=run_a).get()
    with Eager():
        webhook_deliver_task.delay(fresh.pk)  # the killed worker's message, back: the delivery is claimed
        assert len(hook.received) == 0
        deliveries_recover_task.delay()
        assert deliveries_recover() == 0  # nothing left to recover; a second pass sends nothing again
    assert sorted(r.json["run"]["id"] for r in hook.received) == sorted([str(run_a.pk), str(run_b.pk)])
    a, b, c = (deliveries.get(run=run) for run in (run_a, run_b, run_c))
    assert (a.status, a.attempts) == (Delivery.Status.DELIVERED, 2)
    assert (b.status, b.attempts) == (Delivery.Status.DELIVERED, 1)
    assert c.status == Delivery.Status.FAILED and "the worker sending its last attempt stopped" in c.error


def test_a_delivery_being_sent_now_is_left_alone(project, alice, hook):
    from notifications.services import deliveries_recover

    run_to_end(project, alice)
    WebhookDelivery.objects.update(status=Delivery.Status.SENDING, attempted=timezone.now())
    with Eager():
        assert deliveries_recover() == 0
    assert WebhookDelivery.objects.get().status == Delivery.Status.SENDING and len(hook.received) == 1
