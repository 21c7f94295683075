"""Cromwell's metadata of a run or of one of its subworkflows, read from the database as it is sent.

Nothing is built whole: the workflow's own fields are one object, its calls are read a chunk of rows
at a time in (name, shard, attempt) order and written out as they come, and a key filter that wants
no call field reads no call at all. The answer is gzip-compressed when the client accepts it.
"""
import dataclasses
import io
import json
import zipfile
from typing import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.regex_helper import _lazy_re_compile
from django.utils.text import compress_sequence

from workflows.api import SERVER_VERSION
from workflows.api.keys import KeyFilter
from workflows.api.selectors import (
    ApiWorkflow, cromwell_time, failed_subworkflows, level_calls, run_labels, subworkflow_status,
)
from workflows.models import Call, Run, Subworkflow
from workflows.services import caching

CHUNK_ROWS = 2000  # call rows fetched at a time
FLUSH_CHARS = 64 * 1024  # characters of JSON gathered before they are sent
IMPORTS_MAX_BYTES = 10 * 1024 * 1024  # imported WDL text shown in submittedFiles.imports
_accepts_gzip = _lazy_re_compile(r"\bgzip\b")
_encode = json.JSONEncoder(separators=(",", ":")).encode

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
# The columns of a call row each field of its metadata needs.
CALL_COLUMNS = {
    "executionStatus": ["status"], "backendStatus": ["status"], "backend": ["backend"], "jobId": ["backend_job_id"],
    "callRoot": ["call_dir"], "stdout": ["call_dir"], "stderr": ["call_dir"], "backendLogs": [],
    "commandLine": ["command"], "inputs": ["inputs"], "outputs": ["outputs"], "runtimeAttributes": ["runtime"],
    "returnCode": ["return_code"], "failures": ["failure"], "callCaching": ["cache_result", "cache_hashes"],
    "start": ["queued"], "end": ["ended"], "executionEvents": ["status", "queued", "claimed", "started", "ended"],
}
SUBWORKFLOW_FIELDS = ("executionStatus", "subWorkflowId", "inputs", "outputs", "start", "end", "executionEvents")


def metadata_response(request, workflow: ApiWorkflow, *, include=(), exclude=(), expand_subworkflows=False,
                      log_url=None) -> StreamingHttpResponse:
    """Stream Cromwell's metadata of a workflow as JSON, gzip-compressed when the client accepts it."""
    builder = _Builder(workflow.run, keys=KeyFilter(include, exclude), expand=expand_subworkflows, log_url=log_url)
    return json_stream_response(request, builder.workflow(workflow.sub))


def metadata_dict(workflow: ApiWorkflow, *, include=(), exclude=(), expand_subworkflows=False, log_url=None) -> dict:
    """Return Cromwell's metadata of a workflow as one object (for tests and small answers)."""
    builder = _Builder(workflow.run, keys=KeyFilter(include, exclude), expand=expand_subworkflows, log_url=log_url)
    return json.loads("".join(builder.workflow(workflow.sub)))


def run_failed_jobs(*, run: Run, log_url=None) -> dict:
    """Return the metadata of the run's calls that failed for good (Cromwell's metadata/failed-jobs)."""
    builder = _Builder(run, keys=KeyFilter(), log_url=log_url)
    calls: dict[str, list] = {}
    rows = (Call.objects.filter(run=run, status=Call.Status.FAILED).order_by("fqn", "shard_index", "attempt", "pk")
            .values("pk", "fqn", "shard_index", "attempt", *builder.call_columns))
    for c in rows:
        calls.setdefault(c["fqn"], []).append(
            {**builder.call_fields(c), "shardIndex": c["shard_index"], "attempt": c["attempt"]})
    return {"id": str(run.pk), "calls": calls}


def json_stream_response(request, pieces: Iterable[str]) -> StreamingHttpResponse:
    """Answer JSON text given in pieces, sent about FLUSH_CHARS at a time, gzip-compressed if accepted."""
    chunks = _chunks(pieces)
    response = StreamingHttpResponse(content_type="application/json")
    patch_vary_headers(response, ("Accept-Encoding",))
    if _accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
        chunks = compress_sequence(chunks, max_random_bytes=0)  # no secret in metadata for BREACH to find
        response["Content-Encoding"] = "gzip"
    response.streaming_content = chunks
    return response


def _chunks(pieces: Iterable[str]) -> Iterator[bytes]:
    buffer, size = [], 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= FLUSH_CHARS:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def workflow_failures(failures: list[dict]) -> list[dict]:
    """Nest a failed run's failures as Cromwell does: "Workflow failed", caused by each call's failure."""
    if not failures:
        return []
    return [{"message": "Workflow failed", "causedBy": failures}]


def _runtime_value(value) -> str:
    # Cromwell shows runtime attributes as the strings it evaluated them to
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


def _event(events: list, description: str, start: str | None, end: str | None) -> None:
    if start is not None:
        item = {"description": description, "startTime": start}
        if end is not None:
            item["endTime"] = end
        events.append(item)


@dataclasses.dataclass
class _Builder:
    """Write the metadata of a run's workflows as pieces of JSON text."""

    run: Run
    keys: KeyFilter
    expand: bool = False
    log_url: object = None
    _failed: set | None = None

    def __post_init__(self):
        self.log_url = self.log_url or (lambda pk: "")
        self.cache_mode = caching.run_mode(self.run, self.run.team)
        self.call_columns = sorted({column for field, columns in CALL_COLUMNS.items() if self.keys.wants(field)
                                    for column in columns})
        self.wants_calls = any(self.keys.wants(field) for field in CALL_COLUMNS)
        self.wants_subworkflows = any(self.keys.wants(field) for field in SUBWORKFLOW_FIELDS)
        self._times: dict = {}

    def _time(self, value) -> str | None:
        # a scatter's calls share a few times: each is formatted once
        if value not in self._times:
            if len(self._times) > 10_000:
                self._times.clear()
            self._times[value] = cromwell_time(value)
        return self._times[value]

    def failed(self) -> set[str]:
        if self._failed is None:
            self._failed = failed_subworkflows(self.run)
        return self._failed

    def workflow(self, sub: Subworkflow | None, parent: Subworkflow | None = None) -> Iterator[str]:
        """Yield the metadata of the run's workflow (sub None) or of one of its subworkflows."""
        fields = self._run_fields() if sub is None else self._subworkflow_fields(sub, parent)
        head = _encode({"id": str(sub.pk if sub else self.run.pk), **self.keys.fields(fields)})
        yield head[:-1]
        yield ',"calls":{'
        if "calls" not in self.keys.exclude:  # Cromwell: excludeKey=calls reads no call at all
            yield from _grouped(self._task_entries(sub), self._subworkflow_entries(sub))
        yield "}}"

    def _run_fields(self) -> dict:
        run = self.run
        fields = {"workflowName": run.version.wdl_name, "status": run.status,
                  "submission": cromwell_time(run.submitted)}
        if run.started:
            fields["start"] = cromwell_time(run.started)
        if run.ended:
            fields["end"] = cromwell_time(run.ended)
        fields.update({
            "inputs": run.inputs or {}, "outputs": run.outputs or {}, "labels": run_labels(run),
            "workflowRoot": run.root, "actualWorkflowLanguage": "WDL",
            "actualWorkflowLanguageVersion": run.version.wdl_version, "metadataSource": "Unarchived",
        })
        events = []
        for description, time in (("PickedUp", run.started), ("Finished", run.ended)):
            if time is not None:
                events.append({"cromwellId": "batchsite", "description": description,
                               "timestamp": cromwell_time(time), "cromwellVersion": SERVER_VERSION})
        fields["workflowProcessingEvents"] = events
        if run.failures:
            fields["failures"] = workflow_failures(run.failures)
        if self.keys.wants("submittedFiles"):
            fields["submittedFiles"] = {
                "workflow": _source_text(run), "root": "", "workflowUrl": "",
                "inputs": json.dumps(run.inputs or {}), "options": json.dumps(run.options or {}),
                "labels": json.dumps(run.labels or {}), "workflowType": "WDL",
                "workflowTypeVersion": run.version.wdl_version, "imports": _imports(run),
            }
        return fields

    def _subworkflow_fields(self, sub: Subworkflow, parent: Subworkflow | None) -> dict:
        status = subworkflow_status(sub, self.run, self.failed())
        fields = {"workflowName": sub.name, "status": status,
                  "parentWorkflowId": str(sub.parent_id or self.run.pk), "rootWorkflowId": str(self.run.pk),
                  "start": cromwell_time(sub.started)}
        end = sub.ended or (self.run.ended if status in Run.TERMINAL else None)
        if end:
            fields["end"] = cromwell_time(end)
        fields.update({
            "inputs": {f"{sub.name}.{k}": v for k, v in sub.inputs.items()},
            "outputs": {f"{sub.name}.{k}": v for k, v in (sub.outputs or {}).items()},
            "workflowRoot": subworkflow_root(self.run, sub),
        })
        return fields

    # ---- calls ----

    def _task_entries(self, sub: Subworkflow | None) -> Iterator[tuple[str, Iterable[str]]]:
        if not self.wants_calls:
            return
        rows = level_calls(self.run, sub)
        columns = ["pk", "fqn", "shard_index", "attempt", *self.call_columns]
        for c in rows.order_by("fqn", "shard_index", "attempt", "pk").values(*columns).iterator(chunk_size=CHUNK_ROWS):
            fields = self.keys.fields(self.call_fields(c))
            if fields:
                fields["shardIndex"], fields["attempt"] = c["shard_index"], c["attempt"]
                yield c["fqn"], (_encode(fields),)

    def call_fields(self, c: dict) -> dict:
        """Return the metadata of one call attempt from the columns read of its row."""
        fields = {}
        if "status" in c:
            status = c["status"]
            fields["executionStatus"] = EXECUTION_STATUS.get(status, status)
            if status in BACKEND_STATUS:
                fields["backendStatus"] = BACKEND_STATUS[status]
        if "backend" in c:
            fields["backend"] = c["backend"]
        if c.get("backend_job_id"):
            fields["jobId"] = c["backend_job_id"]
        if c.get("call_dir"):
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
        if "queued" in c:
            fields["start"] = self._time(c["queued"])
        if c.get("ended") is not None:
            fields["end"] = self._time(c["ended"])
        if "claimed" in c:
            fields["executionEvents"] = self._execution_events(c)
        return fields

    def _execution_events(self, c: dict) -> list[dict]:
        events = []
        waited_until = c["claimed"] or (c["ended"] if c["status"] in Call.DONE else None)
        _event(events, "WaitingForQueueSpace", self._time(c["queued"]), self._time(waited_until))
        if c["claimed"]:
            _event(events, "PreparingJob", self._time(c["claimed"]), self._time(c["started"] or c["ended"]))
        _event(events, "RunningJob", self._time(c["started"]), self._time(c["ended"]))
        return events

    def _subworkflow_entries(self, parent: Subworkflow | None) -> Iterator[tuple[str, Iterable[str]]]:
        if not self.wants_subworkflows:
            return
        subs = Subworkflow.objects.filter(run=self.run, parent=parent).order_by("fqn", "shard_index")
        for sub in subs.iterator(chunk_size=CHUNK_ROWS):
            fields = self.keys.fields(self._subworkflow_call(sub))
            if not fields:
                continue
            fields["shardIndex"], fields["attempt"] = sub.shard_index, 1
            if self.expand and "subWorkflowId" in fields:
                yield sub.fqn, (_encode(fields)[:-1], ',"subWorkflowMetadata":', *self.workflow(sub, parent), "}")
            else:
                yield sub.fqn, (_encode(fields),)

    def _subworkflow_call(self, sub: Subworkflow) -> dict:
        status = subworkflow_status(sub, self.run, self.failed())
        fields = {"executionStatus": {"Succeeded": "Done"}.get(status, status), "subWorkflowId": str(sub.pk),
                  "inputs": sub.inputs, "start": cromwell_time(sub.started)}
        if sub.outputs is not None:
            fields["outputs"] = sub.outputs
        end = sub.ended or (self.run.ended if status in Run.TERMINAL else None)
        if end:
            fields["end"] = cromwell_time(end)
        events = []
        _event(events, "SubWorkflowPreparingState", fields["start"], fields["start"])
        _event(events, "SubWorkflowRunningState", fields["start"], fields.get("end"))
        fields["executionEvents"] = events
        return fields


def _grouped(*streams: Iterator[tuple[str, Iterable[str]]]) -> Iterator[str]:
    """Write (name, entry) pairs, each name's entries together, as "name":[entry,...] members."""
    current = None
    for stream in streams:
        for fqn, pieces in stream:
            if fqn != current:
                if current is not None:
                    yield "],"
                yield _encode(fqn) + ":["
                current = fqn
            else:
                yield ","
            yield from pieces
    if current is not None:
        yield "]"


def subworkflow_root(run: Run, sub: Subworkflow) -> str:
    """Return a subworkflow's directory: its call's, under the run's (Cromwell's call-<name>/shard-<i>)."""
    from workflows.services.execution import call_dir

    return call_dir(run.root, sub.call_id, 1).rpartition("/attempt-")[0]


def _source_text(run: Run) -> str:
    try:
        with run.version.source.open("rb") as f:
            return f.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def _imports(run: Run) -> dict:
    """Return the imported WDL files of a run's version by path, as Cromwell's submittedFiles.imports."""
    if not run.version.imports:
        return {}
    try:
        with run.version.imports.open("rb") as f:
            archive = zipfile.ZipFile(io.BytesIO(f.read()))
        files, total = {}, 0
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(".wdl"):
                continue
            total += info.file_size
            if total > IMPORTS_MAX_BYTES:
                break
            files[info.filename] = archive.read(info).decode("utf-8", errors="replace")
        return files
    except (OSError, ValueError, zipfile.BadZipFile):
        return {}
