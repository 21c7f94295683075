"""Many runs at once, all or none: the Cromwell API's batch submission and sample sheets share this."""
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from teams.models import Team
from teams.selectors import team_limits
from workflows.models import Run, RunBatch, WorkflowVersion
from workflows.services.limits import batch_size_check, queued_runs_check
from workflows.services.runs import run_submit


@dataclass(frozen=True)
class BatchRow:
    """One run of a batch: its inputs, its labels, the id a client asked for, how an error names it."""

    inputs: dict | str | bytes
    labels: dict = field(default_factory=dict)
    run_id: str | None = None
    name: str = ""


def batch_admit(*, team: Team, count: int, limits: dict | None = None) -> None:
    """Refuse a batch larger than the team allows at once, or one that would pass its unfinished runs."""
    limits = limits or team_limits(team)
    batch_size_check(count=count, limits=limits)
    queued_runs_check(team=team, adding=count, limits=limits)


def run_batch_submit(*, version: WorkflowVersion, user, rows: list[BatchRow], options=None,
                     on_hold: bool = False) -> list[Run]:
    """Start one run per row in one transaction: a row refused refuses them all, its error naming the row."""
    batch_admit(team=version.workflow.project.team, count=len(rows))
    runs = []
    with transaction.atomic():
        for index, row in enumerate(rows):
            try:
                runs.append(run_submit(version=version, user=user, inputs=row.inputs, options=options,
                                       labels=row.labels, on_hold=on_hold, run_id=row.run_id))
            except ValidationError as exc:
                if len(rows) > 1:
                    raise ValidationError({row.name or f"run {index + 1} of the batch": exc.messages}) from None
                raise
    return runs


def run_batch_launch(*, version: WorkflowVersion, user, rows: list[BatchRow], samples: list[tuple[int, str]],
                     sheet_name: str, sample_column: str) -> RunBatch:
    """Start a sample sheet's runs (samples: each row's number and sample id) and record them as one batch."""
    with transaction.atomic():
        runs = run_batch_submit(version=version, user=user, rows=rows)
        return RunBatch.objects.create(
            team=version.workflow.project.team, project=version.workflow.project, version=version,
            created_by=user, sheet_name=sheet_name[:255], sample_column=sample_column[:255],
            rows=[{"row": number, "sample": sample, "run": str(run.pk)} for (number, sample), run in zip(samples, runs)],
        )
