"""A call attempt's metadata from its row: which columns to read, and the JSON to write of them.

JSON columns are read as their text and times as Cromwell writes them, formatted by the database,
so that a call whose fields the key filter keeps whole is written without building a dict.
"""
import json

from django.db.models import Func, TextField, Value
from django.db.models.functions import Cast

from workflows.api.keys import KEEP, KeyFilter
from workflows.models import Call, Run
from workflows.services import caching

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
        return self.as_sql(compiler, connection, **extra,
                           template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%fZ', %(expressions)s)")


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



class CallRows:
    """Read and write the metadata of a run's call attempts, as a key filter wants them."""

    def __init__(self, run: Run, *, keys: KeyFilter, log_url=None):
        self.keys = keys
        self.log_url = log_url or (lambda pk: "")
        self.cache_mode = caching.run_mode(run, run.team)
        self.fields_read = {field for field in CALL_COLUMNS if keys.wants(field)}
        self._runtimes: dict = {}

    def columns(self) -> list:
        """Return what values_list() reads of a call row: each column a kept field needs, NULL in the place
        of the others; JSON as its text and times as Cromwell writes them (faster in the database than here)."""
        wanted = {column for field in self.fields_read for column in CALL_COLUMNS[field]}
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

    def fields(self, row: tuple) -> dict:
        """Return the metadata of one call attempt from its row, as columns() reads it."""
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
        if "executionEvents" in self.fields_read:
            fields["executionEvents"] = json.loads(_execution_events(status, queued, claimed, started, ended))
        return fields

    def encoder(self):
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
