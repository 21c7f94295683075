"""Celery tasks of notifications: thin wrappers around the services, safe to repeat."""
from celery import shared_task

from notifications.services import ATTEMPTS, DeliveryRetry

# Retries wait up to 1, 2, 4, 8, 16 s (full jitter); the delivery's own row counts its attempts.
_RETRIED = dict(acks_late=True, ignore_result=True, autoretry_for=(DeliveryRetry,), retry_backoff=True,
                retry_backoff_max=600, retry_jitter=True, max_retries=ATTEMPTS - 1)


@shared_task(name="notifications.announce_run_end", acks_late=True, ignore_result=True)
def run_end_announce_task(run_id: str) -> None:
    from notifications.services import run_end_announce

    run_end_announce(run_id=run_id)


@shared_task(name="notifications.send_email", **_RETRIED)
def email_send_task(delivery_id: int) -> None:
    from notifications.services import email_send

    email_send(delivery_id=delivery_id)


@shared_task(name="notifications.deliver_webhook", **_RETRIED)
def webhook_deliver_task(delivery_id: int) -> None:
    from notifications.services import webhook_deliver

    webhook_deliver(delivery_id=delivery_id)


@shared_task(name="notifications.recover_deliveries", acks_late=True, ignore_result=True)
def deliveries_recover_task() -> None:
    from notifications.services import deliveries_recover

    deliveries_recover()
