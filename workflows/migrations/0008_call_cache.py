"""Call caching: cache entries, and what a call knows of its lookup."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('teams', '0008_cache_sharing'),
        ('workflows', '0007_aws_cost'),
    ]

    operations = [
        migrations.AddField(
            model_name='call',
            name='cache_hash',
            field=models.CharField(blank=True, help_text='Of everything that makes the call what it is.', max_length=64),
        ),
        migrations.AddField(
            model_name='call',
            name='cache_hashes',
            field=models.JSONField(blank=True, default=dict, help_text="Cromwell's hash names and their values."),
        ),
        migrations.AddField(
            model_name='call',
            name='cache_pending',
            field=models.BooleanField(default=False, help_text='Its cache lookup has not been done yet.'),
        ),
        migrations.AddField(
            model_name='call',
            name='cache_result',
            field=models.CharField(blank=True, help_text='Hit, miss, or why caching was off.', max_length=500),
        ),
        migrations.AddField(
            model_name='call',
            name='cached_from',
            field=models.ForeignKey(blank=True, help_text='The call whose results this one reused.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='workflows.call'),
        ),
        migrations.CreateModel(
            name='CacheEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hash', models.CharField(max_length=64)),
                ('backend', models.CharField(max_length=100)),
                ('call_dir', models.CharField(max_length=1024)),
                ('outputs', models.JSONField(default=dict)),
                ('return_code', models.IntegerField(blank=True, null=True)),
                ('valid', models.BooleanField(default=True, help_text='False once its files were found gone or deleted.')),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('call', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='cache_entry', to='workflows.call')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='cache_entries', to='workflows.run')),
                ('team', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='teams.team')),
            ],
            options={
                'verbose_name_plural': 'cache entries',
                'indexes': [models.Index(fields=['hash', 'team'], name='cacheentry_hash_team')],
            },
        ),
    ]
