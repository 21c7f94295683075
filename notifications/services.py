"""Telling people a run ended: an email to its submitter if they opted in, a signed POST to each team webhook.

run_end_notify is called where a run reaches a final state; the deliveries it leads to are rows unique
per (recipient, run, run end) and claimed before they are sent, so repeated tasks send nothing twice.
"""
import hashlib
import hmac
import http.client
import json
import secrets
import smtplib
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from batchsite.outbound import PrivateAddress, is_literal, is_public, pinned_connection, public_address
from notifications.models import Delivery, EmailDelivery, EmailPreference, Webhook, WebhookDelivery
from teams.models import AuditEvent, Team
from teams.services import audit_record
from workflows.models import Run

SIGNATURE_HEADER = "X-Batchsite-Signature-256"
EVENT = "run.ended"
ATTEMPTS = 6  # tried at most this often: the first try, then retries up to 1, 2, 4, 8 and 16 s (jittered) later
TIMEOUT = 10  # seconds to connect, and to wait for each part of the answer
MAX_ANSWER = 300  # bytes of an answer kept in the delivery log
MAX_WEBHOOKS_PER_TEAM = 10
MAX_URL = 2000
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_ERROR = 1000
STALLED = timedelta(minutes=2)  # a delivery untouched this long lost its task (deliveries_recover)


class DeliveryRetry(Exception):
    """A delivery failed in a way that may succeed later; the task retries it with backoff."""


# ---- a run ended -----------------------------------------------------------------------

def run_end_notify(*, run_id) -> None:
    """Queue the notifications of a run's end for when the transaction that ended it commits."""
    from notifications.tasks import run_end_announce_task

    run_end_announce_task.delay_on_commit(str(run_id))


def run_url(run: Run) -> str:
    return settings.BATCHSITE_SITE_URL + reverse("workflows:run_detail", args=[run.pk])


def run_end_payload(run: Run) -> dict:
    """Return the JSON body that tells a webhook of a run's end."""
    def iso(moment):
        return moment.isoformat() if moment else None

    return {
        "event": EVENT,
        "run": {
            "id": str(run.pk), "status": run.status, "url": run_url(run),
            "team": run.team.slug, "project": run.project.slug,
            "workflow": run.version.workflow.name, "version": run.version.number, "wdl": run.version.wdl_name,
            "submitted_by": run.submitted_by.get_username() if run.submitted_by else None,
            "submitted": iso(run.submitted), "started": iso(run.started), "ended": iso(run.ended),
            "labels": run.labels or {},
            "failures": [failure.get("message", "")[:2000] for failure in (run.failures or [])[:5]],
        },
    }


def run_end_announce(*, run_id) -> None:
    """Record one delivery per recipient of the run's end (once each, however often this runs) and queue them."""
    from notifications.tasks import email_send_task, webhook_deliver_task

    run = (Run.objects.filter(pk=run_id, status__in=Run.TERMINAL, ended__isnull=False)
           .select_related("team", "project", "version__workflow", "submitted_by").first())
    if run is None:
        return  # unknown, or reopened (retried) since: its next end is announced then
    user = run.submitted_by
    with transaction.atomic():
        if user and user.email and EmailPreference.objects.filter(user=user, runs_ended=True).exists():
            EmailDelivery.objects.bulk_create([EmailDelivery(run=run, run_ended=run.ended, user=user, address=user.email)],
                                              ignore_conflicts=True)
        payload = run_end_payload(run)
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook=hook, run=run, run_ended=run.ended, payload=payload)
             for hook in Webhook.objects.filter(team=run.team, active=True)], ignore_conflicts=True)
        waiting = {"run": run, "run_ended": run.ended, "status": Delivery.Status.PENDING}
        for pk in EmailDelivery.objects.filter(**waiting).values_list("pk", flat=True):
            email_send_task.delay_on_commit(pk)
        for pk in WebhookDelivery.objects.filter(**waiting).values_list("pk", flat=True):
            webhook_deliver_task.delay_on_commit(pk)


def _claim(model, pk: int):
    """Take a delivery that is waiting (or due a retry) as this attempt's; None if another task has it or it is done."""
    claimed = model.objects.filter(pk=pk, status__in=(Delivery.Status.PENDING, Delivery.Status.RETRYING)).update(
        status=Delivery.Status.SENDING, attempts=F("attempts") + 1, attempted=timezone.now())
    return model.objects.get(pk=pk) if claimed else None


def deliveries_recover() -> int:
    """Queue again the deliveries whose task was lost; return how many.

    A worker killed while sending leaves its delivery Sending (the task that comes back finds it
    claimed): after STALLED it is retried, as a failed attempt is (the receiver may get it twice,
    with the same X-Batchsite-Delivery id), or failed once its attempts are spent. A delivery left
    Pending or Retrying that long lost its message (a retry waits at most 16 s). A task queued for
    a delivery that is still queued claims nothing: only one attempt sends.
    """
    from notifications.tasks import email_send_task, webhook_deliver_task

    stalled = timezone.now() - STALLED
    queued = 0
    for model, task in ((EmailDelivery, email_send_task), (WebhookDelivery, webhook_deliver_task)):
        sending = model.objects.filter(status=Delivery.Status.SENDING, attempted__lt=stalled)
        sending.filter(attempts__gte=ATTEMPTS).update(
            status=Delivery.Status.FAILED, finished=timezone.now(),
            error="the worker sending its last attempt stopped before it ended")
        sending.update(status=Delivery.Status.RETRYING, error="the worker sending it stopped before it ended")
        lost = model.objects.filter(
            Q(status=Delivery.Status.PENDING, created__lt=stalled)
            | Q(status=Delivery.Status.RETRYING, attempted__lt=stalled)).values_list("pk", flat=True)
        for pk in lost:
            task.delay(pk)
            queued += 1
    return queued


def _settle(delivery: Delivery, *, error: str = "", retry: bool = False, **fields) -> None:
    """Record an attempt's outcome; raise DeliveryRetry when it failed and may be tried again."""
    retry = retry and delivery.attempts < ATTEMPTS
    status = (Delivery.Status.DELIVERED if not error else Delivery.Status.RETRYING if retry
              else Delivery.Status.FAILED)
    type(delivery).objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
        status=status, error=error[:MAX_ERROR], finished=None if retry else timezone.now(), **fields)
    if retry:
        raise DeliveryRetry(error)


# ---- email ------------------------------------------------------------------------------

def email_send(*, delivery_id: int) -> None:
    """Email a user that their run ended (one claimed attempt)."""
    delivery = _claim(EmailDelivery, delivery_id)
    if delivery is None:
        return
    run = Run.objects.select_related("version__workflow").get(pk=delivery.run_id)
    name = f"{run.version.workflow.name} v{run.version.number}"
    lines = [f"Your run {run.pk} of {name} ended: {run.status}.", "", run_url(run)]
    lines += [""] + [f"- {failure.get('message', '')[:500]}" for failure in (run.failures or [])[:5]]
    labels = ", ".join(f"{k}={v}" for k, v in sorted((run.labels or {}).items()))
    if labels:
        lines += ["", f"Labels: {labels[:1000]}"]
    lines += ["", "You get this because you asked Batchsite to email you when your runs end; turn it off at "
              f"{settings.BATCHSITE_SITE_URL}{reverse('notification_preferences')}."]
    try:
        send_mail(f"[Batchsite] {run.status}: {name} run {str(run.pk)[:8]}", "\n".join(lines),
                  settings.DEFAULT_FROM_EMAIL, [delivery.address])
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        _settle(delivery, error=f"the mail server refused it: {exc}")
    except (smtplib.SMTPException, OSError) as exc:  # the server is away or busy: worth another try
        _settle(delivery, error=f"{type(exc).__name__}: {exc}", retry=True)
    else:
        _settle(delivery)


def email_preference_set(*, user, runs_ended: bool, email: str) -> EmailPreference:
    """Set whether the user is emailed when their runs end, and the address it goes to."""
    if runs_ended and not email:
        raise ValidationError({"email": "an address is needed to email you"})
    with transaction.atomic():
        if email != user.email:
            user.email = email
            user.save(update_fields=["email"])
        preference, _ = EmailPreference.objects.update_or_create(user=user, defaults={"runs_ended": runs_ended})
    return preference


# ---- webhooks ---------------------------------------------------------------------------

def signature(secret: str, body: bytes) -> str:
    """Return the signature header's value: sha256= and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_url_check(url: str) -> str:
    """Return the URL if a webhook may post to it (http or https, no credentials, no private address literal)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise ValidationError({"url": f"the URL is {len(url):,} characters; at most {MAX_URL:,} are allowed"})
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": "a webhook URL is http:// or https:// and a host name, "
                                      "such as https://hooks.example.org/batchsite"}) from None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError({"url": "the URL's port is not a number from 1 to 65535"})
    if parts.username or parts.password:
        raise ValidationError({"url": "put no user name or password in the URL: receivers check the signature"})
    # A name is checked when it is resolved, at each delivery (public_address).
    if is_literal(parts.hostname) and not is_public(parts.hostname) and not settings.BATCHSITE_WEBHOOK_ALLOW_PRIVATE:
        raise ValidationError({"url": f"{parts.hostname} is a private or loopback address; webhooks go to public hosts"})
    return url


def _post(url: str, *, body: bytes, headers: dict) -> tuple[int, str, bytes]:
    """POST body to url; return the answer's status, reason and first bytes. The host is resolved once and
    must be public unless the site allows private addresses: the site's own network is no target."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = public_address(parts.hostname, port, private_ok=settings.BATCHSITE_WEBHOOK_ALLOW_PRIVATE)
    connection = pinned_connection(parts.scheme, parts.hostname, port, address, timeout=TIMEOUT)
    try:
        connection.request("POST", urlunsplit(("", "", parts.path or "/", parts.query, "")), body=body,
                           headers=headers)
        response = connection.getresponse()
        return response.status, response.reason, response.read(MAX_ANSWER)
    finally:
        connection.close()


def webhook_deliver(*, delivery_id: int) -> None:
    """POST a run end's JSON body to a webhook, signed with its secret (one claimed attempt)."""
    delivery = _claim(WebhookDelivery, delivery_id)
    if delivery is None:
        return
    hook = Webhook.objects.get(pk=delivery.webhook_id)
    if not hook.active:
        _settle(delivery, error="the webhook was turned off before it was sent")
        return
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Batchsite-Webhook/1",
               "X-Batchsite-Event": EVENT, "X-Batchsite-Delivery": str(delivery.pk),
               SIGNATURE_HEADER: signature(hook.secret, body)}
    try:
        code, reason, answer = _post(hook.url, body=body, headers=headers)
    except ValueError as exc:  # a private address, a port out of range: another try would change nothing
        _settle(delivery, error=f"{exc}; webhooks go to public hosts" if isinstance(exc, PrivateAddress) else str(exc))
    except (OSError, http.client.HTTPException) as exc:  # unreachable, timed out, TLS refused, name not found (yet)
        _settle(delivery, error=f"{type(exc).__name__}: {exc}", retry=True)
    else:
        if 200 <= code < 300:
            _settle(delivery, status_code=code)
        else:
            _settle(delivery, error=f"the receiver answered {code} {reason}: {answer.decode(errors='replace')}",
                    retry=code in RETRY_STATUSES, status_code=code)


def webhook_create(*, team: Team, url: str, user) -> tuple[Webhook, str]:
    """Add a webhook to the team; return it and its secret (shown once)."""
    url = webhook_url_check(url)
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # two admins cannot both take the last place
        if Webhook.objects.filter(team=team).count() >= MAX_WEBHOOKS_PER_TEAM:
            raise ValidationError({"url": f"team {team.slug} has {MAX_WEBHOOKS_PER_TEAM} webhooks, the most allowed; "
                                          "delete one first"})
        secret = secrets.token_urlsafe(32)
        hook = Webhook.objects.create(team=team, url=url, secret=secret, created_by=user)
        audit_record(team=team, user=user, action=AuditEvent.Action.TEAM_CHANGE, target=f"webhook {hook.pk}",
                     webhook="added", url=url)
    return hook, secret


def webhook_rotate(*, webhook: Webhook, user) -> str:
    """Give a webhook a new secret and return it (shown once); deliveries from now on are signed with it."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        Webhook.objects.filter(pk=webhook.pk).update(secret=secret, secret_rotated=timezone.now())
        audit_record(team=webhook.team, user=user, action=AuditEvent.Action.TEAM_CHANGE,
                     target=f"webhook {webhook.pk}", webhook="secret rotated", url=webhook.url)
    return secret


def webhook_set_active(*, webhook: Webhook, active: bool, user) -> None:
    """Turn a webhook on or off."""
    with transaction.atomic():
        Webhook.objects.filter(pk=webhook.pk).update(active=active)
        audit_record(team=webhook.team, user=user, action=AuditEvent.Action.TEAM_CHANGE,
                     target=f"webhook {webhook.pk}", webhook="on" if active else "off", url=webhook.url)


def webhook_delete(*, webhook: Webhook, user) -> None:
    """Delete a webhook and its delivery log."""
    with transaction.atomic():
        audit_record(team=webhook.team, user=user, action=AuditEvent.Action.TEAM_CHANGE,
                     target=f"webhook {webhook.pk}", webhook="deleted", url=webhook.url)
        webhook.delete()
