"""Who hears of a run's end: a user's email opt-in, a team's webhooks, and what was sent (once per run end)."""
from django.conf import settings
from django.db import models

from teams.models import Team
from workflows.models import Run


class EmailPreference(models.Model):
    """A user's choice to be emailed when their runs end."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preference")
    runs_ended = models.BooleanField("email me when my runs end", default=False)

    def __str__(self) -> str:
        return f"{self.user}: {'on' if self.runs_ended else 'off'}"


class Webhook(models.Model):
    """A team's URL that receives a signed JSON body when any of the team's runs ends."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField("URL", max_length=2000, help_text="http or https; checked by webhook_url_check.")
    # Kept in the clear: signing needs it. Shown to the team admin once, when made or rotated.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    secret_rotated = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team", "pk"]

    def __str__(self) -> str:
        return f"{self.team.slug}: {self.url}"


class Delivery(models.Model):
    """One notification of one run end: claimed before it is sent, so a repeated task sends nothing twice."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    run_ended = models.DateTimeField(help_text="The run end it tells of (a retried run can end again).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    attempted = models.DateTimeField(null=True, blank=True, help_text="When the last attempt began.")
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class WebhookDelivery(Delivery):
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    payload = models.JSONField(help_text="The JSON body, the same on every attempt.")
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's last answer.")

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["webhook", "run", "run_ended"], name="webhook_once_per_run_end")]

    def __str__(self) -> str:
        return f"{self.webhook.url} run {self.run_id} ({self.status})"


class EmailDelivery(Delivery):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.EmailField(max_length=254)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "email deliveries"
        constraints = [models.UniqueConstraint(fields=["user", "run", "run_ended"], name="email_once_per_run_end")]

    def __str__(self) -> str:
        return f"{self.address} run {self.run_id} ({self.status})"
