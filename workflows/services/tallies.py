"""Keep the call tallies small: sum each busy run's rows into one per call name and status.

The database writes the rows (triggers of migration 0009_call_tallies); this only merges them, so
reading a run's tally stays a sum over a few rows however many of its calls changed.
"""
from django.db import connection, transaction
from django.db.models import Count

from workflows.models import CallTally

COMPACT_AT = 64  # fresh rows of one run before they are merged
_COLUMNS = "run_id, fqn, status, calls, cost, hits, saved, queued, started, ended, compacted"
_SUMS = "run_id, fqn, status, sum(calls), sum(cost), sum(hits), sum(saved), min(queued), min(started), max(ended)"
# A status no call is in any more, with nothing to add, is dropped; its times went on with its calls.
_NONZERO = "HAVING sum(calls) <> 0 OR sum(hits) <> 0 OR sum(cost) <> 0 OR sum(saved) <> 0"


def call_tallies_compact(*, at: int = COMPACT_AT) -> int:
    """Merge the tally rows of every run with at least `at` fresh ones; return how many runs were merged."""
    runs = list(CallTally.objects.filter(compacted=False).order_by().values("run_id")
                .annotate(n=Count("pk")).filter(n__gte=at).values_list("run_id", flat=True))
    for run_id in runs:
        _compact(run_id)
    return len(runs)


def _compact(run_id) -> None:
    run = run_id if connection.vendor == "postgresql" else run_id.hex  # how each stores a UUID
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: rows another transaction adds meanwhile are not in `gone` and stay.
            cursor.execute(f"""
                WITH gone AS (DELETE FROM workflows_calltally WHERE run_id = %s RETURNING *)
                INSERT INTO workflows_calltally ({_COLUMNS})
                SELECT {_SUMS}, true FROM gone GROUP BY run_id, fqn, status {_NONZERO}""", [run])
        else:  # SQLite: this transaction holds the only write lock, so nothing is added meanwhile
            cursor.execute("SELECT max(id) FROM workflows_calltally WHERE run_id = %s", [run])
            top = cursor.fetchone()[0]
            cursor.execute(f"""
                INSERT INTO workflows_calltally ({_COLUMNS})
                SELECT {_SUMS}, 1 FROM workflows_calltally WHERE run_id = %s AND id <= %s
                GROUP BY run_id, fqn, status {_NONZERO}""", [run, top])
            cursor.execute("DELETE FROM workflows_calltally WHERE run_id = %s AND id <= %s", [run, top])
