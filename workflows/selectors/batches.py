"""Reads of sample-sheet batches, scoped to the user's teams."""
from collections import Counter
from dataclasses import dataclass

from django.http import Http404

from teams.selectors import access_check
from workflows.models import Run, RunBatch


@dataclass
class BatchRowStatus:
    number: int
    sample: str
    run: Run | None  # None once the run was deleted


def batch_get_for_user(*, user, pk: int) -> RunBatch:
    """Return a batch of one of the user's teams; 404 for outsiders."""
    batch = RunBatch.objects.filter(pk=pk).select_related("team", "project", "version__workflow", "created_by").first()
    if batch is None:
        raise Http404("No such batch.")
    access_check(user=user, team=batch.team)
    return batch


def batch_rows(*, batch: RunBatch) -> tuple[list[BatchRowStatus], Counter]:
    """Return each row of a batch (checked by the caller) with its run, in sheet order, and its runs by status."""
    runs = Run.objects.filter(pk__in=[row["run"] for row in batch.rows], team=batch.team).only(
        "pk", "status", "submitted", "started", "ended", "team_id")
    by_id = {str(run.pk): run for run in runs}
    rows = [BatchRowStatus(number=row["row"], sample=row["sample"], run=by_id.get(row["run"])) for row in batch.rows]
    return rows, Counter(row.run.status for row in rows if row.run)
