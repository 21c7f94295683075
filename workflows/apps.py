import importlib

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WorkflowsConfig(AppConfig):
    name = "workflows"

    def ready(self):
        post_migrate.connect(_tally_triggers_restore, sender=self)


def _tally_triggers_restore(sender, using, **kwargs):
    """Make the call tallies' triggers again on SQLite, where a migration that rebuilds a table drops them."""
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "sqlite" or "workflows_calltally" not in connection.introspection.table_names():
        return
    tallies = importlib.import_module("workflows.migrations.0010_call_tallies")
    with connection.cursor() as cursor:
        for statement in tallies.SQLITE_TRIGGERS:
            cursor.execute(statement)
