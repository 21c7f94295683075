"""Reads of notification settings, scoped: a team's webhooks are its admins' alone."""
from django.db.models import QuerySet
from django.http import Http404

from notifications.models import EmailPreference, Webhook, WebhookDelivery
from teams.models import Team
from teams.selectors import team_get_for_admin

RECENT_DELIVERIES = 5


def email_preference_get(*, user) -> EmailPreference:
    """Return the user's email preference (off until they opt in)."""
    return EmailPreference.objects.filter(user=user).first() or EmailPreference(user=user)


def webhook_list(*, user, slug: str) -> tuple[Team, QuerySet[Webhook]]:
    """Return a team and its webhooks; 404 for outsiders, 403 for members who are not its admins."""
    team = team_get_for_admin(user=user, slug=slug)
    return team, Webhook.objects.filter(team=team).select_related("created_by")


def webhook_get_for_admin(*, user, pk: int) -> Webhook:
    """Return a webhook its team's admin may change; 404 for outsiders, 403 for other members."""
    webhook = Webhook.objects.filter(pk=pk).select_related("team").first()
    if webhook is None:
        raise Http404("No such webhook.")
    team_get_for_admin(user=user, slug=webhook.team.slug)
    return webhook


def webhook_recent_deliveries(*, webhook: Webhook) -> list[WebhookDelivery]:
    """Return a webhook's latest deliveries (the caller has checked access)."""
    return list(webhook.deliveries.order_by("-created")[:RECENT_DELIVERIES])
