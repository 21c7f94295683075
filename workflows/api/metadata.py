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

from django.db.models import Func, TextField, Value
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.regex_helper import _lazy_re_compile
from django.utils.text import compress_sequence

from workflows.api import SERVER_VERSION
from workflows.api.keys import DESCEND, KEEP, KeyFilter
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
            .values_list(*builder.call_row_columns()))
    for row in rows:
        calls.setdefault(row[1], []).append({**builder.call_fields(row), "shardIndex": row[2], "attempt": row[3]})
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


_string = json.encoder.encode_basestring_ascii  # a JSON string, as json.dumps writes it
_ROW_COLUMNS = ("status", "backend", "backend_job_id", "call_dir", "command", "return_code", "failure",
                "cache_result", "cache_hashes", "inputs", "outputs", "runtime", "queued", "claimed", "started", "ended")
_JSON_COLUMNS = {"cache_hashes", "inputs", "outputs", "runtime"}
_TIME_COLUMNS = {"queued", "claimed", "started", "ended"}


class CromwellTime(Func):
    """A time as Cromwell writes it (UTC, milliseconds, Z), formatted by the database."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, **extra, template=(
            "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"))

    def as_sqlite(self, compiler, connection, **extra):
        # Django's SQLite backend turns %% into %, and the template's own formatting halves them first
        return self.as_sql(compiler, connection, **extra, template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%fZ', %(expressions)s)")


def _execution_events(status, queued: str | None, claimed: str | None, started: str | None, ended: str | None) -> str:
    """Return a call attempt's executionEvents as JSON text, from its times as Cromwell writes them."""
    waited_until = claimed or (ended if status in Call.DONE else None)
    events = [_event_text("WaitingForQueueSpace", queued, waited_until)]
    if claimed:
        events.append(_event_text("PreparingJob", claimed, started or ended))
    events.append(_event_text("RunningJob", started, ended))
    return "[" + ",".join(event for event in events if event) + "]"


def _event_text(description: str, start: str | None, end: str | None) -> str:
    # the times are the database's Cromwell-format text: nothing in them needs escaping
    if start is None:
        return ""
    if end is None:
        return f'{{"description":"{description}","startTime":"{start}"}}'
    return f'{{"description":"{description}","startTime":"{start}","endTime":"{end}"}}'


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
        self._runtimes: dict = {}
        self.call_fields_read = {field for field in CALL_COLUMNS if self.keys.wants(field)}

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
        rows = level_calls(self.run, sub).order_by("fqn", "shard_index", "attempt", "pk")
        rows = rows.values_list(*self.call_row_columns()).iterator(chunk_size=CHUNK_ROWS)
        if any(self.keys.decision(field) is DESCEND for field in CALL_COLUMNS):
            for row in rows:  # a filter inside a field (includeKey=outputs:x): each call built, then filtered
                fields = self.keys.fields(self.call_fields(row))
                if fields:
                    fields["shardIndex"], fields["attempt"] = row[2], row[3]
                    yield row[1], (_encode(fields),)
            return
        encode = self._call_encoder()
        for row in rows:
            text = encode(row)
            if text:
                yield row[1], (text,)

    def call_row_columns(self) -> list:
        """Return what to read of a call row: each column a kept field needs, NULL in the place of the others;
        JSON as its text and times as Cromwell writes them, which the database makes faster than Python."""
        wanted = set(self.call_columns)
        columns = ["pk", "fqn", "shard_index", "attempt"]
        for column in _ROW_COLUMNS:
            if column not in wanted:
                columns.append(Value(None, output_field=TextField()))
            elif column in _JSON_COLUMNS:
                columns.append(Cast(column, TextField()))
            elif column in _TIME_COLUMNS:
                columns.append(CromwellTime(column))
            else:
                columns.append(column)
        return columns

    def call_fields(self, row: tuple) -> dict:
        """Return the metadata of one call attempt from its row, as call_row_columns() reads it."""
        (pk, _, _, _, status, backend, job_id, directory, command, return_code, failure, cache_result,
         cache_hashes, inputs, outputs, runtime, queued, claimed, started, ended) = row
        fields = {}
        if status is not None:
            fields["executionStatus"] = EXECUTION_STATUS.get(status, status)
            if status in BACKEND_STATUS:
                fields["backendStatus"] = BACKEND_STATUS[status]
        if backend is not None:
            fields["backend"] = backend
        if job_id:
            fields["jobId"] = job_id
        if directory:
            fields.update(callRoot=directory, stdout=f"{directory}/execution/stdout",
                          stderr=f"{directory}/execution/stderr")
        fields["backendLogs"] = {"log": self.log_url(pk)}
        if command:
            fields["commandLine"] = command
        if inputs is not None:
            fields["inputs"] = json.loads(inputs) or {}
        if outputs is not None and outputs != "null":
            fields["outputs"] = json.loads(outputs)
        if runtime is not None:
            fields["runtimeAttributes"] = json.loads(self._runtime(runtime))
        if return_code is not None:
            fields["returnCode"] = return_code
        if failure:
            fields["failures"] = [{"message": failure, "causedBy": []}]
        if cache_result is not None and (block := self._cache_block(cache_result, cache_hashes)):
            fields["callCaching"] = json.loads(block)
        if queued is not None:
            fields["start"] = queued
        if ended is not None:
            fields["end"] = ended
        if "executionEvents" in self.call_fields_read:
            fields["executionEvents"] = json.loads(_execution_events(status, queued, claimed, started, ended))
        return fields

    def _call_encoder(self):
        """Return a function writing a call row's metadata as JSON text, of the fields the filter keeps whole."""
        keep = {field for field in CALL_COLUMNS if self.keys.decision(field) is KEEP}
        log_url = self.log_url

        def encode(row: tuple) -> str:
            (pk, _, shard_index, attempt, status, backend, job_id, directory, command, return_code, failure,
             cache_result, cache_hashes, inputs, outputs, runtime, queued, claimed, started, ended) = row
            parts = []
            if status is not None:
                if "executionStatus" in keep:
                    parts.append(f'"executionStatus":"{EXECUTION_STATUS.get(status, status)}"')
                if "backendStatus" in keep and status in BACKEND_STATUS:
                    parts.append(f'"backendStatus":"{BACKEND_STATUS[status]}"')
            if "backend" in keep:
                parts.append(f'"backend":{_string(backend)}')
            if job_id and "jobId" in keep:
                parts.append(f'"jobId":{_string(job_id)}')
            if directory:
                if "callRoot" in keep:
                    parts.append(f'"callRoot":{_string(directory)}')
                if "stdout" in keep:
                    parts.append(f'"stdout":{_string(directory + "/execution/stdout")}')
                if "stderr" in keep:
                    parts.append(f'"stderr":{_string(directory + "/execution/stderr")}')
            if "backendLogs" in keep:
                parts.append(f'"backendLogs":{{"log":{_string(log_url(pk))}}}')
            if command and "commandLine" in keep:
                parts.append(f'"commandLine":{_string(command)}')
            if "inputs" in keep:
                parts.append(f'"inputs":{inputs if inputs and inputs != "null" else "{}"}')
            if outputs is not None and outputs != "null" and "outputs" in keep:
                parts.append(f'"outputs":{outputs}')
            if "runtimeAttributes" in keep:
                parts.append(f'"runtimeAttributes":{self._runtime(runtime)}')
            if return_code is not None and "returnCode" in keep:
                parts.append(f'"returnCode":{return_code}')
            if failure and "failures" in keep:
                parts.append(f'"failures":[{{"message":{_string(failure)},"causedBy":[]}}]')
            if "callCaching" in keep and (block := self._cache_block(cache_result, cache_hashes)):
                parts.append(f'"callCaching":{block}')
            if queued is not None and "start" in keep:
                parts.append(f'"start":"{queued}"')
            if ended is not None and "end" in keep:
                parts.append(f'"end":"{ended}"')
            if "executionEvents" in keep:
                parts.append(f'"executionEvents":{_execution_events(status, queued, claimed, started, ended)}')
            if not parts:
                return ""
            return "{" + ",".join(parts) + f',"shardIndex":{shard_index},"attempt":{attempt}}}'
        return encode

    def _runtime(self, text: str | None) -> str:
        # Cromwell shows runtime attributes as the strings it evaluated them to; shards mostly share them
        encoded = self._runtimes.get(text)
        if encoded is None:
            if len(self._runtimes) > 1000:
                self._runtimes.clear()
            encoded = self._runtimes[text] = _encode({k: _runtime_value(v) for k, v in json.loads(text or "{}").items()})
        return encoded

    def _cache_block(self, result: str, hashes: str | None) -> str | None:
        if self.cache_mode == (False, False) and not result:
            return None  # caching off: no block (metadata_block's own first answer, without reading the hashes)
        block = caching.metadata_block(mode=self.cache_mode, result=result or "", hashes=json.loads(hashes or "{}"))
        return _encode(block) if block else None

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
