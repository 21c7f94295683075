"""Run.cleaned_up replaces the audit event that used to say so; the events stay, as a log."""
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def from_audit_events(apps, schema_editor):
    Run = apps.get_model("workflows", "Run")
    AuditEvent = apps.get_model("teams", "AuditEvent")
    events = AuditEvent.objects.filter(action="cleanup", target__startswith="run ").order_by("created")
    for event in events.iterator():
        try:
            run_id = uuid.UUID(event.target.removeprefix("run "))
        except ValueError:
            continue  # another target ("expired scripts", "orphan Batch jobs")
        Run.objects.filter(pk=run_id, cleaned_up__isnull=True).update(
            cleaned_up=event.created, cleaned_up_by=event.user_id)


class Migration(migrations.Migration):

    dependencies = [
        ('workflows', '0005_call_claims'),
        ('teams', '0004_registry_credential_help'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='run',
            name='cleaned_up',
            field=models.DateTimeField(blank=True, help_text='When its scripts and call directories were deleted (by a person or the retention policy).', null=True),
        ),
        migrations.AddField(
            model_name='run',
            name='cleaned_up_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(from_audit_events, migrations.RunPython.noop),
    ]
