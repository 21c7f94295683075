"""Reads for the Cromwell API: runs scoped to the caller's teams, and Cromwell's metadata shapes.

Metadata is built from the run row and one query for its calls, whatever their number.
"""
import json
import uuid
from datetime import datetime, timezone

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from teams.models import Membership
from teams.selectors import membership_get
from workflows.api.http import ApiError, parse_run_id
from workflows.models import Call, Run
from workflows.services import caching

# Cromwell's ExecutionStatus for each state of a call attempt.
EXECUTION_STATUS = {
    Call.Status.QUEUED: "WaitingForQueueSpace",  # waiting for a slot under the team's cap
    Call.Status.SUBMITTING: "Starting",
    Call.Status.SUBMITTED: "Running",  # Cromwell says Running once the backend has the job
    Call.Status.RUNNING: "Running",
    Call.Status.SUCCEEDED: "Done",
    Call.Status.FAILED: "Failed",
    Call.Status.RETRIED: "RetryableFailure",
    Call.Status.PREEMPTED: "RetryableFailure",  # as Cromwell reports a preempted attempt
    Call.Status.ABORTED: "Aborted",
}
BACKEND_STATUS = {
    Call.Status.SUBMITTING: "Submitting",
    Call.Status.SUBMITTED: "Queued",
    Call.Status.RUNNING: "Running",
    Call.Status.SUCCEEDED: "Done",
    Call.Status.FAILED: "Failed",
    Call.Status.RETRIED: "Failed",
    Call.Status.PREEMPTED: "Preempted",
    Call.Status.ABORTED: "Aborted",
}


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


# ---- includeKey / excludeKey -----------------------------------------------------------

_DROP, _KEEP, _DESCEND = object(), object(), object()


class KeyFilter:
    """Cromwell's key filter: a key is kept when its flattened name ("outputs:wf.x", "failures[0]:message")
    starts with an includeKey (any, when none is given) and with no excludeKey."""

    def __init__(self, include=(), exclude=()):
        self.include = [k for k in include if k]
        self.exclude = [k for k in exclude if k]
        self.everything = not self.include and not self.exclude
        self._decisions: dict[str, object] = {}  # a top-level field name -> _KEEP, _DROP or _DESCEND

    def wants(self, name: str) -> bool:
        """Tell whether anything under a top-level field could be kept (to skip building it)."""
        if any(name.startswith(k) for k in self.exclude):
            return False
        return not self.include or any(name.startswith(k) or k.startswith(name) for k in self.include)

    def fields(self, fields: dict) -> dict:
        """Return the fields (and parts of fields) the filter keeps."""
        if self.everything:
            return fields
        kept = {}
        for name, value in fields.items():
            decision = self._decisions.get(name)
            if decision is None:
                decision = self._decisions[name] = self._decide(name)
            if decision is _KEEP:
                kept[name] = value
            elif decision is _DESCEND:
                value = self._value(name, value)
                if value is not _DROP:
                    kept[name] = value
        return kept

    def _decide(self, key: str):
        # the same answer for every call: decided once per field name, not once per call
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return _DROP
        if any(key.startswith(k) for k in self.exclude):
            return _DROP
        if include_all and not any(k.startswith(key) for k in self.exclude):
            return _KEEP
        return _DESCEND

    def _value(self, key: str, value):
        include_all = not self.include or any(key.startswith(k) for k in self.include)
        if not include_all and not any(k.startswith(key) for k in self.include):
            return _DROP
        if any(key.startswith(k) for k in self.exclude):
            return _DROP
        deeper_exclude = any(k.startswith(key) for k in self.exclude)
        if include_all and not deeper_exclude:
            return value
        if isinstance(value, dict) and value:
            kept = {}
            for name, item in value.items():
                item = self._value(f"{key}:{name}", item)
                if item is not _DROP:
                    kept[name] = item
            return kept or _DROP
        if isinstance(value, list) and value:
            kept = [item for item in (self._value(f"{key}[{i}]", item) for i, item in enumerate(value))
                    if item is not _DROP]
            return kept or _DROP
        return value if include_all else _DROP


# ---- metadata ----------------------------------------------------------------------------

# Columns of a call row, by the metadata field that needs them.
_CALL_COLUMNS = {
    "inputs": ["inputs"], "outputs": ["outputs"], "runtimeAttributes": ["runtime"], "commandLine": ["command"],
    "failures": ["failure"], "returnCode": ["return_code"], "jobId": ["backend_job_id"],
    "callCaching": ["cache_result", "cache_hashes"],
}
_ALWAYS = ["pk", "call_id", "fqn", "shard_index", "attempt", "status", "backend", "call_dir", "queued", "claimed",
           "started", "ended"]


def _runtime_value(value) -> str:
    # Cromwell shows runtime attributes as the strings it evaluated them to
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _execution_events(c: dict) -> list[dict]:
    events = []

    times = {}

    def time(value):
        if value not in times:
            times[value] = cromwell_time(value)
        return times[value]

    def event(description, start, end):
        if start is not None:
            item = {"description": description, "startTime": time(start)}
            if end is not None:
                item["endTime"] = time(end)
            events.append(item)

    waited_until = c["claimed"] or (c["ended"] if c["status"] in Call.DONE else None)
    event("WaitingForQueueSpace", c["queued"], waited_until)
    if c["claimed"]:
        event("PreparingJob", c["claimed"], c["started"] or c["ended"])
    event("RunningJob", c["started"], c["ended"])
    return events


class MetadataBuilder:
    """Build Cromwell's metadata JSON for a run (and its subworkflows) from one query for its calls."""

    def __init__(self, run: Run, *, keys: KeyFilter | None = None, expand_subworkflows: bool = False,
                 log_url=None, calls: QuerySet | None = None):
        self.run = run
        self.keys = keys or KeyFilter()
        self.expand = expand_subworkflows
        self.log_url = log_url or (lambda pk: "")
        self.calls_qs = calls if calls is not None else Call.objects.filter(run=run)
        self.cache_mode = caching.run_mode(run, run.team)

    def _call_rows(self) -> list[dict]:
        columns = list(_ALWAYS)
        for field, needed in _CALL_COLUMNS.items():
            if self.keys.wants(field):
                columns += needed
        return list(self.calls_qs.order_by("fqn", "shard_index", "attempt", "pk").values(*columns))

    def _call_fields(self, c: dict) -> dict:
        status = c["status"]
        fields = {"executionStatus": EXECUTION_STATUS.get(status, status)}
        if status in BACKEND_STATUS:
            fields["backendStatus"] = BACKEND_STATUS[status]
        fields["backend"] = c["backend"]
        if c.get("backend_job_id"):
            fields["jobId"] = c["backend_job_id"]
        if c["call_dir"]:
            fields["callRoot"] = c["call_dir"]
            fields["stdout"] = f"{c['call_dir']}/execution/stdout"
            fields["stderr"] = f"{c['call_dir']}/execution/stderr"
        fields["backendLogs"] = {"log": self.log_url(c["pk"])}
        if c.get("command"):
            fields["commandLine"] = c["command"]
        if "inputs" in c:
            fields["inputs"] = c["inputs"] or {}
        if c.get("outputs") is not None:
            fields["outputs"] = c["outputs"]
        if "runtime" in c:
            fields["runtimeAttributes"] = {k: _runtime_value(v) for k, v in (c["runtime"] or {}).items()}
        if c.get("return_code") is not None:
            fields["returnCode"] = c["return_code"]
        if c.get("failure"):
            fields["failures"] = [{"message": c["failure"], "causedBy": []}]
        if "cache_result" in c and (block := caching.metadata_block(
                mode=self.cache_mode, result=c["cache_result"], hashes=c["cache_hashes"])):
            fields["callCaching"] = block
        fields["start"] = cromwell_time(c["queued"])
        if c["ended"] is not None:
            fields["end"] = cromwell_time(c["ended"])
        fields["executionEvents"] = _execution_events(c)
        return fields

    def build(self) -> dict:
        """Return the run's metadata: workflow-level fields, then calls keyed by fully qualified name."""
        rows = self._call_rows()
        tree = _Node(self.run.version.wdl_name)
        for c in rows:
            tree.add(c)
        body = {"id": str(self.run.pk)}
        body.update(self.keys.fields(self._workflow_fields()))
        body["id"] = str(self.run.pk)
        body["calls"] = self._calls(tree, root_status=self.run.status)
        return body

    def _workflow_fields(self) -> dict:
        run = self.run
        fields = {
            "workflowName": run.version.wdl_name,
            "status": run.status,
            "submission": cromwell_time(run.submitted),
        }
        if run.started:
            fields["start"] = cromwell_time(run.started)
        if run.ended:
            fields["end"] = cromwell_time(run.ended)
        fields.update({
            "inputs": run.inputs or {},
            "outputs": run.outputs or {},
            "labels": run_labels(run),
            "workflowRoot": run.root,
            "actualWorkflowLanguage": "WDL",
            "actualWorkflowLanguageVersion": run.version.wdl_version,
            "metadataSource": "Unarchived",
        })
        if run.failures:
            fields["failures"] = run.failures
        if self.keys.wants("submittedFiles"):
            fields["submittedFiles"] = {
                "workflow": _source_text(run), "root": "", "workflowUrl": "",
                "inputs": json.dumps(run.inputs or {}), "options": json.dumps(run.options or {}),
                "labels": json.dumps(run.labels or {}), "workflowType": "WDL",
                "workflowTypeVersion": run.version.wdl_version,
            }
        return fields

    def _calls(self, node: "_Node", *, root_status: str) -> dict:
        if "calls" in self.keys.exclude:  # Cromwell: excludeKey=calls reads no call at all
            return {}
        calls: dict[str, list] = {}
        for fqn, rows in node.calls.items():
            for c in rows:
                fields = self.keys.fields(self._call_fields(c))
                if fields:
                    calls.setdefault(fqn, []).append({**fields, "shardIndex": c["shard_index"], "attempt": c["attempt"]})
        for segment, child in node.children.items():
            fields = self.keys.fields(self._subworkflow_fields(child, segment, root_status))
            if self.expand and "subWorkflowId" in fields:
                fields["subWorkflowMetadata"] = self._subworkflow_metadata(child, segment, root_status)
            if fields:
                fqn = f"{node.name}.{child.call_name}"
                calls.setdefault(fqn, []).append({**fields, "shardIndex": child.shard_index, "attempt": 1})
        for entries in calls.values():
            entries.sort(key=lambda e: (e["shardIndex"], e["attempt"]))
        return calls

    def _subworkflow_id(self, path: str) -> str:
        return str(uuid.uuid5(self.run.pk, path))

    def _subworkflow_fields(self, child: "_Node", path: str, root_status: str) -> dict:
        status = child.status(root_status)
        fields = {"executionStatus": {"Succeeded": "Done"}.get(status, status),
                  "subWorkflowId": self._subworkflow_id(path)}
        if child.start:
            fields["start"] = cromwell_time(child.start)
        if child.end and status in Run.TERMINAL:
            fields["end"] = cromwell_time(child.end)
        return fields

    def _subworkflow_metadata(self, child: "_Node", path: str, root_status: str) -> dict:
        status = child.status(root_status)
        fields = {"workflowName": child.name, "status": status,
                  "parentWorkflowId": str(self.run.pk) if "/" not in path else self._subworkflow_id(path.rsplit("/", 1)[0]),
                  "rootWorkflowId": str(self.run.pk)}
        if child.start:
            fields["start"] = cromwell_time(child.start)
        if child.end and status in Run.TERMINAL:
            fields["end"] = cromwell_time(child.end)
        body = {"id": self._subworkflow_id(path)}
        body.update(self.keys.fields(fields))
        body["id"] = self._subworkflow_id(path)
        body["calls"] = self._calls(child, root_status=root_status)
        return body


class _Node:
    """The calls of one (sub)workflow, and its subworkflow calls keyed by call id path."""

    def __init__(self, name: str, segment: str = ""):
        self.name = name
        self.segment = segment
        self.calls: dict[str, list[dict]] = {}
        self.children: dict[str, _Node] = {}
        self.statuses: set[str] = set()
        self.start = None
        self.end = None

    @property
    def call_name(self) -> str:
        return self.segment.split("/")[-1].removeprefix("call-").split("-")[0]

    @property
    def shard_index(self) -> int:
        parts = self.segment.split("/")[-1].removeprefix("call-").split("-")
        return int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else -1

    def add(self, c: dict, depth: int = 0) -> None:
        segments = c["call_id"].split("/")
        self.statuses.add(c["status"])
        if c["queued"] and (self.start is None or c["queued"] < self.start):
            self.start = c["queued"]
        if c["ended"] and (self.end is None or c["ended"] > self.end):
            self.end = c["ended"]
        if depth == len(segments) - 1:
            if depth > 0 and self.name == self.call_name:
                self.name = c["fqn"].rsplit(".", 1)[0]  # the subworkflow's own name, from its calls' names
            self.calls.setdefault(c["fqn"], []).append(c)
            return
        key = "/".join(segments[: depth + 1])
        child = self.children.get(key)
        if child is None:
            child = self.children[key] = _Node(segments[depth].removeprefix("call-").split("-")[0], key)
        child.add(c, depth + 1)

    def status(self, root_status: str) -> str:
        """Return the subworkflow's Cromwell status from its calls' and the run's states."""
        if Call.Status.FAILED in self.statuses:
            return "Failed"
        if self.statuses & set(Call.LIVE):
            return "Aborting" if root_status == Run.Status.ABORTING else "Running"
        if root_status == Run.Status.SUCCEEDED:
            return "Succeeded"
        if root_status in (Run.Status.ABORTED, Run.Status.FAILED) or Call.Status.ABORTED in self.statuses:
            return "Aborted" if root_status == Run.Status.ABORTED else "Failed"
        return "Running"


def _source_text(run: Run) -> str:
    try:
        with run.version.source.open("rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def run_metadata(*, run: Run, include=(), exclude=(), expand_subworkflows=False, log_url=None) -> dict:
    """Return Cromwell's metadata for a run, filtered by includeKey/excludeKey."""
    return MetadataBuilder(run, keys=KeyFilter(include, exclude), expand_subworkflows=expand_subworkflows,
                           log_url=log_url).build()


def run_failed_jobs(*, run: Run, log_url=None) -> dict:
    """Return the metadata of the run's calls that failed for good (Cromwell's metadata/failed-jobs)."""
    builder = MetadataBuilder(run, log_url=log_url, calls=Call.objects.filter(run=run, status=Call.Status.FAILED))
    rows = builder._call_rows()
    calls: dict[str, list] = {}
    for c in rows:
        calls.setdefault(c["fqn"], []).append(
            {**builder._call_fields(c), "shardIndex": c["shard_index"], "attempt": c["attempt"]})
    return {"id": str(run.pk), "calls": calls}


def run_logs(*, run: Run, log_url=None) -> dict:
    """Return each call attempt's stdout, stderr and log link (Cromwell's /logs); no calls key when there are none."""
    log_url = log_url or (lambda pk: "")
    calls: dict[str, list] = {}
    rows = (Call.objects.filter(run=run).exclude(call_dir="").order_by("fqn", "shard_index", "attempt", "pk")
            .values_list("pk", "fqn", "shard_index", "attempt", "call_dir"))
    for pk, fqn, shard_index, attempt, directory in rows:
        calls.setdefault(fqn, []).append({
            "stdout": f"{directory}/execution/stdout", "stderr": f"{directory}/execution/stderr",
            "backendLogs": {"log": log_url(pk)}, "shardIndex": shard_index, "attempt": attempt,
        })
    body = {"id": str(run.pk)}
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
