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
from workflows.api.callrows import CALL_COLUMNS, CallRows
from workflows.api.keys import DESCEND, KeyFilter
from workflows.api.selectors import (
    ApiWorkflow, cromwell_time, failed_subworkflows, level_calls, run_labels, subworkflow_failures, subworkflow_status,
)
from workflows.models import Call, Run, Subworkflow

CHUNK_ROWS = 2000  # call rows fetched at a time
FLUSH_CHARS = 64 * 1024  # characters of JSON gathered before they are sent
IMPORTS_MAX_BYTES = 10 * 1024 * 1024  # imported WDL text shown in submittedFiles.imports
_accepts_gzip = _lazy_re_compile(r"\bgzip\b")
_encode = json.JSONEncoder(separators=(",", ":")).encode


SUBWORKFLOW_FIELDS = ("executionStatus", "subWorkflowId", "inputs", "outputs", "start", "end", "executionEvents")


def metadata_response(request, workflow: ApiWorkflow, *, include=(), exclude=(), expand_subworkflows=False,
                      log_url=None) -> StreamingHttpResponse:
    """Stream Cromwell's metadata of a workflow as JSON, gzip-compressed when the client accepts it."""
    builder = _Builder(workflow.run, keys=KeyFilter(include, exclude), expand=expand_subworkflows, log_url=log_url)
    return json_stream_response(request, builder.workflow(workflow.sub))


def run_failed_jobs(*, run: Run, log_url=None) -> dict:
    """Return the metadata of the run's calls that failed for good (Cromwell's metadata/failed-jobs)."""
    reader = CallRows(run, keys=KeyFilter(), log_url=log_url)
    calls: dict[str, list] = {}
    rows = (Call.objects.filter(run=run, status=Call.Status.FAILED).order_by("fqn", "shard_index", "attempt", "pk")
            .values_list(*reader.columns()))
    for row in rows:
        calls.setdefault(row[1], []).append({**reader.fields(row), "shardIndex": row[2], "attempt": row[3]})
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
        self.rows = CallRows(self.run, keys=self.keys, log_url=self.log_url)
        self.wants_calls = bool(self.rows.fields_read)
        self.wants_subworkflows = any(self.keys.wants(field) for field in SUBWORKFLOW_FIELDS)

    def failed(self) -> set[str]:
        if self._failed is None:
            self._failed = failed_subworkflows(self.run)
        return self._failed

    def workflow(self, sub: Subworkflow | None) -> Iterator[str]:
        """Yield the metadata of the run's workflow (sub None) or of one of its subworkflows."""
        fields = self._run_fields() if sub is None else self._subworkflow_fields(sub)
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

    def _subworkflow_fields(self, sub: Subworkflow) -> dict:
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
        if status == Run.Status.FAILED and self.keys.wants("failures"):
            failures = subworkflow_failures(sub)
            if failures:
                fields["failures"] = workflow_failures(failures)
        return fields

    # ---- calls ----

    def _task_entries(self, sub: Subworkflow | None) -> Iterator[tuple[str, Iterable[str]]]:
        if not self.wants_calls:
            return
        rows = level_calls(self.run, sub).order_by("fqn", "shard_index", "attempt", "pk")
        rows = rows.values_list(*self.rows.columns()).iterator(chunk_size=CHUNK_ROWS)
        if any(self.keys.decision(field) is DESCEND for field in CALL_COLUMNS):
            for row in rows:  # a filter inside a field (includeKey=outputs:x): each call built, then filtered
                fields = self.keys.fields(self.rows.fields(row))
                if fields:
                    fields["shardIndex"], fields["attempt"] = row[2], row[3]
                    yield row[1], (_encode(fields),)
            return
        encode = self.rows.encoder()
        for row in rows:
            text = encode(row)
            if text:
                yield row[1], (text,)


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
                yield sub.fqn, (_encode(fields)[:-1], ',"subWorkflowMetadata":', *self.workflow(sub), "}")
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
