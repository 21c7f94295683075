"""Reads for the Cromwell API: runs and their subworkflows, scoped to the caller's teams."""
import dataclasses
import re
from datetime import datetime, timezone

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from teams.models import Membership
from teams.selectors import membership_get
from workflows.api.http import ApiError, parse_run_id
from workflows.models import Call, Run, Subworkflow

FAILED_PATHS_MAX = 10_000  # failed calls read to tell which subworkflows failed


def cromwell_time(value: datetime | None) -> str | None:
    """Format a time as Cromwell does: UTC, milliseconds, Z."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_get_for_api(*, user, run_id: str, write: bool = False) -> Run:
    """Return a run of the user's teams by the id in the path: 400 if malformed, 404 if unknown or foreign."""
    pk = parse_run_id(run_id)
    run = Run.objects.filter(pk=pk).select_related("version", "team", "project").first()
    membership = membership_get(user=user, team=run.team) if run is not None else None
    if membership is None:
        raise ApiError(404, f"Unrecognized workflow ID: {pk}")
    if write:
        if membership.role == Membership.Role.VIEWER:
            raise PermissionDenied("Viewers can look but not act.")
        if membership.role == Membership.Role.SCIENTIST and run.submitted_by_id != user.pk:
            raise PermissionDenied("Scientists act on their own runs only.")
    return run


def run_labels(run: Run) -> dict:
    """Return a run's labels as Cromwell shows them, with the cromwell-workflow-id label it adds."""
    return {"cromwell-workflow-id": f"cromwell-{run.pk}", **(run.labels or {})}


# ---- subworkflows: workflows of their own in the API ---------------------------------------

@dataclasses.dataclass(frozen=True)
class ApiWorkflow:
    """What a workflow id of the API names: a run, or one of its subworkflow calls (sub)."""

    run: Run
    sub: Subworkflow | None = None

    @property
    def id(self) -> str:
        return str(self.sub.pk if self.sub is not None else self.run.pk)


def workflow_get_for_api(*, user, run_id: str) -> ApiWorkflow:
    """Return the run or subworkflow of the user's teams an id names: 400 if malformed, 404 if unknown or foreign."""
    pk = parse_run_id(run_id)
    run = Run.objects.filter(pk=pk).select_related("version", "team", "project").first()
    sub = None
    if run is None:
        sub = Subworkflow.objects.filter(pk=pk).select_related("run__version", "run__team", "run__project").first()
        run = sub.run if sub is not None else None
    if run is None or membership_get(user=user, team=run.team) is None:
        raise ApiError(404, f"Unrecognized workflow ID: {pk}")
    return ApiWorkflow(run=run, sub=sub)


def failed_subworkflows(run: Run) -> set[str]:
    """Return the call id paths of a run's subworkflows under which a call failed for good."""
    paths = set()
    failed = Call.objects.filter(run=run, status=Call.Status.FAILED, call_id__contains="/")
    for call_id in failed.values_list("call_id", flat=True)[:FAILED_PATHS_MAX]:
        parts = call_id.split("/")
        paths.update("/".join(parts[:i]) for i in range(1, len(parts)))
    return paths


def subworkflow_failures(sub: Subworkflow, limit: int = 20) -> list[dict]:
    """Return the failures of the calls that failed for good under a subworkflow (its own, and those of the
    subworkflows it calls), as a run's failures read; the first `limit`, oldest first."""
    failed = (Call.objects.filter(run_id=sub.run_id, status=Call.Status.FAILED, call_id__startswith=f"{sub.call_id}/")
              .order_by("ended", "pk").values_list("fqn", "shard_index", "failure")[:limit])
    return [{"message": f"{fqn}{f'[{shard}]' if shard >= 0 else ''} failed: {failure}", "causedBy": []}
            for fqn, shard, failure in failed]


def subworkflow_status(sub: Subworkflow, run: Run, failed: set[str]) -> str:
    """Return a subworkflow's Cromwell status: its outputs, else its run's end, else its calls' failures."""
    if sub.outputs is not None:
        return Run.Status.SUCCEEDED
    if run.status in (Run.Status.ABORTING, Run.Status.ABORTED, Run.Status.FAILED):
        return run.status
    return Run.Status.FAILED if sub.call_id in failed else Run.Status.RUNNING


def workflow_status(workflow: ApiWorkflow) -> str:
    """Return the Cromwell status of a run or subworkflow."""
    if workflow.sub is None:
        return workflow.run.status
    return subworkflow_status(workflow.sub, workflow.run, failed_subworkflows(workflow.run))


def workflow_outputs(workflow: ApiWorkflow) -> dict:
    """Return a workflow's outputs, {"wf.x": value}: none until it succeeded, as Cromwell (its issue 4139)."""
    if workflow.sub is None:
        return workflow.run.outputs or {}
    return {f"{workflow.sub.name}.{k}": v for k, v in (workflow.sub.outputs or {}).items()}


def level_calls(run: Run, sub: Subworkflow | None) -> QuerySet:
    """Return the call rows of a run's own workflow (sub None) or of one subworkflow, not of those they call."""
    rows = Call.objects.filter(run=run)
    if sub is None:
        return rows.exclude(call_id__contains="/")
    return rows.filter(call_id__regex=rf"^{re.escape(sub.call_id)}/[^/]+$")


def workflow_logs(*, workflow: ApiWorkflow, log_url=None) -> dict:
    """Return the stdout, stderr and log link of each call attempt of a workflow, not of the subworkflows it
    calls (Cromwell's /logs); no calls key when there are none."""
    log_url = log_url or (lambda pk: "")
    calls: dict[str, list] = {}
    rows = (level_calls(workflow.run, workflow.sub).exclude(call_dir="")
            .order_by("fqn", "shard_index", "attempt", "pk")
            .values_list("pk", "fqn", "shard_index", "attempt", "call_dir"))
    for pk, fqn, shard_index, attempt, directory in rows:
        calls.setdefault(fqn, []).append({
            "stdout": f"{directory}/execution/stdout", "stderr": f"{directory}/execution/stderr",
            "backendLogs": {"log": log_url(pk)}, "shardIndex": shard_index, "attempt": attempt,
        })
    body = {"id": workflow.id}
    if calls:
        body["calls"] = calls
    return body


def call_get_for_api(*, run: Run, pk: str) -> Call:
    """Return one call attempt of a run (the caller has access to the run); 404 otherwise."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        pk = None
    call = Call.objects.filter(run=run, pk=pk).first() if pk is not None else None
    if call is None:
        raise ApiError(404, f"Unrecognized call {pk} of workflow {run.pk}")
    return call
