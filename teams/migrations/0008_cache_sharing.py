"""Call caching: the teams' sharing settings."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('teams', '0007_budgets'),
    ]

    operations = [
        migrations.AddField(
            model_name='team',
            name='cache_readable_prefixes',
            field=models.JSONField(blank=True, default=list, help_text="Where this team's jobs may read (s3://bucket/prefix/ or a local directory): another team's results are reused only from under one of these."),
        ),
        migrations.AddField(
            model_name='team',
            name='cache_sharing_group',
            field=models.CharField(blank=True, help_text='Set by operators: teams of one group that all opted in share call results.', max_length=100),
        ),
        migrations.AddField(
            model_name='team',
            name='cache_sharing_opt_in',
            field=models.BooleanField(default=False, help_text="The team admin's consent: calls of the teams of the same sharing group may reuse this team's results, and this team's calls theirs.", verbose_name='share call results'),
        ),
        migrations.AddField(
            model_name='team',
            name='call_caching',
            field=models.BooleanField(default=True, help_text='Reuse the results of identical earlier calls (where the site enables call caching).'),
        ),
    ]
