"""Call tallies: the database keeps per-run counts of calls by name and status, their cost, cache hits
and times in workflows_calltally, so the run page reads them without scanning the run's calls.

Triggers are the one write path: every statement that inserts, deletes or changes calls (services,
bulk updates, the admin, a cascade) adds its change, in its own transaction, so the tally cannot drift.
PostgreSQL: one row per statement and (run, name, status) from the statement's transition tables;
SQLite: one row per changed call. Existing calls are tallied once, in the same transaction.
"""
import django.db.models.deletion
from django.db import migrations, models

# What a call contributes to its tally row; a change to anything else adds nothing.
TALLIED = "run_id, fqn, status, cost, cached_from_id, queued, started, ended"
INSERT_INTO = ("INSERT INTO workflows_calltally (run_id, fqn, status, calls, cost, hits, saved, queued, started, "
               "ended, compacted)")
# d: the changed calls, each with sign -1 (as it was) or +1 (as it is); s: the call a cache hit reused.
AGGREGATE = f"""{INSERT_INTO}
    SELECT d.run_id, d.fqn, d.status, sum(d.sign), coalesce(sum(d.sign * d.cost), 0),
           sum(d.sign * (d.cached_from_id IS NOT NULL)::int),
           coalesce(sum(d.sign * extract(epoch FROM s.ended - s.started)), 0),
           min(d.queued) FILTER (WHERE d.sign > 0), min(d.started) FILTER (WHERE d.sign > 0),
           max(d.ended) FILTER (WHERE d.sign > 0), false
    FROM d LEFT JOIN workflows_call s ON s.id = d.cached_from_id
    GROUP BY d.run_id, d.fqn, d.status"""
POSTGRESQL = f"""
CREATE FUNCTION workflows_call_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH d AS (SELECT 1 AS sign, {TALLIED} FROM new_calls)
        {AGGREGATE};
    ELSIF TG_OP = 'DELETE' THEN
        WITH d AS (SELECT -1 AS sign, {TALLIED} FROM old_calls)
        {AGGREGATE};
    ELSE
        WITH changed AS (
            SELECT n.id FROM new_calls n JOIN old_calls o ON o.id = n.id
            WHERE ({", ".join(f"n.{c}" for c in TALLIED.split(", "))})
                  IS DISTINCT FROM ({", ".join(f"o.{c}" for c in TALLIED.split(", "))})
        ), d AS (
            SELECT -1 AS sign, {TALLIED} FROM old_calls WHERE id IN (SELECT id FROM changed)
            UNION ALL
            SELECT 1 AS sign, {TALLIED} FROM new_calls WHERE id IN (SELECT id FROM changed)
        )
        {AGGREGATE};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER workflows_call_tally_insert AFTER INSERT ON workflows_call
    REFERENCING NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION workflows_call_tally();
CREATE TRIGGER workflows_call_tally_update AFTER UPDATE ON workflows_call
    REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls FOR EACH STATEMENT EXECUTE FUNCTION workflows_call_tally();
CREATE TRIGGER workflows_call_tally_delete AFTER DELETE ON workflows_call
    REFERENCING OLD TABLE AS old_calls FOR EACH STATEMENT EXECUTE FUNCTION workflows_call_tally();
CREATE FUNCTION workflows_run_tally_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM workflows_calltally WHERE run_id IN (SELECT id FROM old_runs);
    RETURN NULL;
END $$;
CREATE TRIGGER workflows_run_tally_delete AFTER DELETE ON workflows_run
    REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION workflows_run_tally_delete();
WITH d AS (SELECT 1 AS sign, {TALLIED} FROM workflows_call)
{AGGREGATE};
UPDATE workflows_calltally SET compacted = true;
"""
POSTGRESQL_REVERSE = """
DROP TRIGGER workflows_call_tally_insert ON workflows_call;
DROP TRIGGER workflows_call_tally_update ON workflows_call;
DROP TRIGGER workflows_call_tally_delete ON workflows_call;
DROP TRIGGER workflows_run_tally_delete ON workflows_run;
DROP FUNCTION workflows_call_tally();
DROP FUNCTION workflows_run_tally_delete();
"""


def _sqlite_values(row: str, sign: int) -> str:
    saved = (f"coalesce((SELECT (julianday(s.ended) - julianday(s.started)) * 86400 FROM workflows_call s "
             f"WHERE s.id = {row}.cached_from_id), 0)")
    times = f"{row}.queued, {row}.started, {row}.ended" if sign > 0 else "NULL, NULL, NULL"
    return (f"VALUES ({row}.run_id, {row}.fqn, {row}.status, {sign}, {sign} * coalesce({row}.cost, 0), "
            f"{sign} * ({row}.cached_from_id IS NOT NULL), {sign} * {saved}, {times}, 0)")


_CHANGED = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in TALLIED.split(", "))
# IF NOT EXISTS: WorkflowsConfig makes them again after every migrate on SQLite, where a later
# migration that rebuilds a table (ALTER TABLE there copies it) drops its triggers.
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS workflows_call_tally_insert AFTER INSERT ON workflows_call BEGIN "
    f"{INSERT_INTO} {_sqlite_values('NEW', 1)}; END",
    f"CREATE TRIGGER IF NOT EXISTS workflows_call_tally_update AFTER UPDATE ON workflows_call WHEN {_CHANGED} BEGIN "
    f"{INSERT_INTO} {_sqlite_values('OLD', -1)}; {INSERT_INTO} {_sqlite_values('NEW', 1)}; END",
    f"CREATE TRIGGER IF NOT EXISTS workflows_call_tally_delete AFTER DELETE ON workflows_call BEGIN "
    f"{INSERT_INTO} {_sqlite_values('OLD', -1)}; END",
    "CREATE TRIGGER IF NOT EXISTS workflows_run_tally_delete AFTER DELETE ON workflows_run BEGIN "
    "DELETE FROM workflows_calltally WHERE run_id = OLD.id; END",
]
SQLITE = [*SQLITE_TRIGGERS, f"""{INSERT_INTO}
    SELECT c.run_id, c.fqn, c.status, count(*), coalesce(sum(c.cost), 0), count(c.cached_from_id),
           coalesce(sum((julianday(s.ended) - julianday(s.started)) * 86400), 0),
           min(c.queued), min(c.started), max(c.ended), 1
    FROM workflows_call c LEFT JOIN workflows_call s ON s.id = c.cached_from_id
    GROUP BY c.run_id, c.fqn, c.status""",
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in (
    "workflows_call_tally_insert", "workflows_call_tally_update", "workflows_call_tally_delete",
    "workflows_run_tally_delete")]


def triggers_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)
    else:
        for statement in SQLITE:
            schema_editor.execute(statement)


def triggers_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE)
    else:
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('teams', '0008_cache_sharing'),
        ('workflows', '0009_run_killed_steps'),
    ]

    operations = [
        migrations.CreateModel(
            name='CallTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('fqn', models.CharField(max_length=500)),
                ('status', models.CharField(choices=[('queued', 'Waiting for a slot'), ('submitting', 'Submitting'), ('submitted', 'Queued on the backend'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('retried', 'Failed, retried'), ('preempted', 'Preempted'), ('aborted', 'Aborted')], max_length=16)),
                ('calls', models.IntegerField(help_text='Signed: a call that leaves the status counts -1.')),
                ('cost', models.DecimalField(decimal_places=6, default=0, max_digits=20)),
                ('hits', models.IntegerField(default=0, help_text="Calls that reused an earlier call's results.")),
                ('saved', models.FloatField(default=0, help_text='Seconds of job time the reused calls took.')),
                ('queued', models.DateTimeField(help_text='The earliest of the calls that entered it.', null=True)),
                ('started', models.DateTimeField(null=True)),
                ('ended', models.DateTimeField(help_text='The latest.', null=True)),
                ('compacted', models.BooleanField(default=False)),
            ],
        ),
        migrations.AddIndex(
            model_name='call',
            index=models.Index(fields=['run', 'fqn', 'shard_index', 'attempt', 'status', 'id'], name='call_run_order'),
        ),
        migrations.AddField(
            model_name='calltally',
            name='run',
            field=models.ForeignKey(db_constraint=False, db_index=False, help_text='No constraint: the triggers write it; a trigger on runs deletes it.', on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='workflows.run'),
        ),
        migrations.AddIndex(
            model_name='calltally',
            index=models.Index(fields=['run', 'fqn', 'status'], name='calltally_run'),
        ),
        migrations.AddIndex(
            model_name='calltally',
            index=models.Index(condition=models.Q(('compacted', False)), fields=['run'], name='calltally_fresh'),
        ),
        migrations.RunPython(triggers_create, triggers_drop),
    ]
