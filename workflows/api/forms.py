"""Cromwell's multipart submission (PartialWorkflowSources): each part as a form field or a file part."""
import dataclasses
import json
import re
import uuid

import yaml
from django.utils.text import get_valid_filename

from workflows.api.http import ApiError
from workflows.api.urlfetch import workflow_url_fetch
from workflows.services.versions import MAX_IMPORTS_BYTES
from workflows.services.limits import (
    MAX_OPTIONS_BYTES, inputs_problems, json_load, json_problem, labels_problems,
)

KNOWN_PARTS = {
    "workflowSource", "wdlSource", "workflowUrl", "workflowRoot", "workflowType", "workflowTypeVersion",
    "workflowInputs", "workflowOptions", "labels", "workflowDependencies", "wdlDependencies",
    "workflowOnHold", "requestedWorkflowId",
}
INPUTS_AUX = "workflowInputs_"
WDL_VERSIONS = {"draft-2", "draft-3", "1.0", "1.1", "1.2", "development"}
MAX_LABELS_PART_BYTES = 1024 * 1024
MAX_PART_BYTES = MAX_IMPORTS_BYTES  # the largest part there is reason to send: the imports zip


@dataclasses.dataclass
class Part:
    data: bytes
    filename: str | None = None  # set for a file part

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


@dataclasses.dataclass
class Submission:
    source: bytes
    filename: str
    imports: bytes | None
    inputs: list[dict]  # one object per run to start
    options: dict
    labels: dict
    on_hold: bool
    run_ids: list[uuid.UUID | None]
    warnings: list[str]


def request_parts(request) -> dict[str, Part]:
    """Return every multipart part by name, whether sent as a form field or a file (the last one wins)."""
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(415, "The request's Content-Type is not supported. Expected: multipart/form-data")
    parts = {name: Part(request.POST.getlist(name)[-1].encode("utf-8")) for name in request.POST}
    for name in request.FILES:
        upload = request.FILES.getlist(name)[-1]
        if upload.size > MAX_PART_BYTES:
            raise ApiError(413, f"The part {name[:100]} is {upload.size:,} bytes; at most {MAX_PART_BYTES:,} are allowed")
        parts[name] = Part(upload.read(), upload.name or name)
    return parts


def _json(text: str, what: str, errors: list[str]):
    try:
        return json_load(text)
    except ValueError as exc:
        errors.append(f"{what} is {exc}")
    return None


class _JsonYamlLoader(yaml.SafeLoader):
    """YAML holding only what JSON can: no aliases (no "billion laughs"), dates left as text."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not accepted")
        return super().compose_node(parent, index)


def inputs_load(text: str):
    """Parse inputs as Cromwell does: JSON, or YAML when it is not JSON; every problem is a ValueError saying what.

    Text that starts like JSON ({ or [) is judged as JSON, so its error points at the JSON mistake.
    """
    try:
        return json_load(text)
    except ValueError:
        if text.lstrip()[:1] in ("{", "["):
            raise
    try:
        value = yaml.load(text, Loader=_JsonYamlLoader)
        return json_load(json.dumps(value, allow_nan=True))  # only JSON's types, within json_load's bounds
    except (yaml.YAMLError, RecursionError, TypeError, ValueError) as exc:
        problem = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ValueError(f"neither JSON nor YAML: {problem}") from None


def _json_objects(text: str, what: str, errors: list[str], *, yaml_ok: bool = False) -> list[dict] | None:
    before = len(errors)
    if yaml_ok:
        try:
            value = inputs_load(text)
        except ValueError as exc:
            errors.append(f"{what} is {exc}")
    else:
        value = _json(text, what, errors)
    if len(errors) > before:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        errors.append(f"{what} is an empty array: there is no workflow to start")
        return None
    bad = [type(item).__name__ for item in items if not isinstance(item, dict)]
    if bad:
        errors.append(f"{what} must be a JSON object (or, for a batch, an array of objects), not {bad[0]}")
        return None
    return items


def _requested_ids(text: str, errors: list[str]) -> list[uuid.UUID]:
    text = text.strip()
    values = _json(text, "requestedWorkflowId", errors) if text[:1] in '["' else text
    if values is None:
        return []
    values = values if isinstance(values, list) else [values]
    ids = []
    for value in values:
        if not isinstance(value, str):
            errors.append(f"Requested workflow IDs must be strings but got: '{json.dumps(value)}'")
            continue
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            errors.append(f"Failed to parse requested workflow ID as UUID: '{value}'")
    return ids


def _labels(text: str, errors: list[str], limits: dict) -> dict:
    value = _json(text, "labels", errors)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append('Invalid workflow labels JSON. Expected a JsObject of "labelKey": "labelValue" values.')
        return {}
    errors.extend(labels_problems(value, max_labels=limits["max_labels_per_run"]))
    return value


def labels_peek(parts: dict[str, Part]) -> dict:
    """Return the labels part when it is a JSON object (to find the project); submission_parse reports its problems."""
    part = parts.get("labels")
    if part is None or not part.data.strip():
        return {}
    if len(part.data) > MAX_LABELS_PART_BYTES:
        raise ApiError(400, f"The labels part is {len(part.data):,} bytes; at most {MAX_LABELS_PART_BYTES:,} "
                            "are allowed")
    try:
        value = json_load(part.text())
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _too_big(parts: dict[str, Part], name: str, limit: int, errors: list[str]) -> bool:
    size = len(parts[name].data) if name in parts else 0
    if size > limit:
        errors.append(f"{name} is {size:,} bytes; at most {limit:,} are allowed")
        return True
    return False


def submission_parse(parts: dict[str, Part], *, batch: bool, limits: dict) -> Submission:
    """Check the parts of a submission as Cromwell does, and the team's limits; raise ApiError(400) listing every problem.

    Sizes are checked before a part is parsed, so an oversized part costs no parsing.
    """
    errors, warnings = [], []
    per_run, most_runs = limits["max_input_bytes_per_run"], limits["max_runs_per_batch"] if batch else 1
    unknown = sorted(name for name in parts if name not in KNOWN_PARTS and not name.startswith(INPUTS_AUX))
    errors.extend(f"Unexpected body part name: {name}" for name in unknown)

    sources = [key for key in ("wdlSource", "workflowSource", "workflowUrl") if key in parts]
    if not sources:
        errors.append("workflowSource or workflowUrl needs to be supplied")
    elif len(sources) > 1:
        errors.append(f"{' and '.join(sources)} can't both be supplied" if len(sources) == 2
                      else "wdlSource, workflowSource and workflowUrl all 3 can't be supplied")
    if "wdlSource" in parts:
        warnings.append("The 'wdlSource' parameter name has been deprecated in favor of 'workflowSource'.")
    source_part = parts.get("workflowSource") or parts.get("wdlSource")

    deps = [key for key in ("wdlDependencies", "workflowDependencies") if key in parts]
    if len(deps) == 2:
        errors.append("wdlDependencies and workflowDependencies can't both be supplied")
    imports = parts[deps[-1]].data if deps else None
    if imports == b"":
        imports = None

    workflow_type = parts["workflowType"].text().strip() if "workflowType" in parts else ""
    if workflow_type and workflow_type.upper() != "WDL":
        errors.append(f"Unsupported workflow type {workflow_type}: this server runs WDL only")
    type_version = parts["workflowTypeVersion"].text().strip() if "workflowTypeVersion" in parts else ""
    if type_version and type_version not in WDL_VERSIONS:
        errors.append(f"Unsupported WDL version {type_version}: expected one of {', '.join(sorted(WDL_VERSIONS))}")
    if "workflowRoot" in parts:
        warnings.append("workflowRoot is ignored: Batchsite decides where a run's files go")

    on_hold = False
    if "workflowOnHold" in parts:
        flag = parts["workflowOnHold"].text().strip().lower()
        if flag not in ("true", "false"):
            errors.append(f"workflowOnHold must be true or false, not {parts['workflowOnHold'].text()[:40]!r}")
        on_hold = flag == "true"

    run_ids = []
    if "requestedWorkflowId" in parts and not _too_big(parts, "requestedWorkflowId", 64 * most_runs, errors):
        run_ids = _requested_ids(parts["requestedWorkflowId"].text(), errors)

    inputs: list[dict] | None = [{}]
    if _too_big(parts, "workflowInputs", per_run * most_runs, errors):
        inputs = None
    elif "workflowInputs" in parts and parts["workflowInputs"].data.strip():
        inputs = _json_objects(parts["workflowInputs"].text(), "workflowInputs", errors, yaml_ok=True)
    elif batch:
        errors.append("No inputs were provided")
        inputs = None
    aux = []
    for name in parts:
        if name.startswith(INPUTS_AUX):
            index = name[len(INPUTS_AUX):]
            if not re.fullmatch(r"-?[0-9]{1,9}", index):
                errors.append(f"{name}: the part number {index[:20]!r} is not an integer")
                continue
            if _too_big(parts, name, per_run, errors):
                continue
            objects = _json_objects(parts[name].text(), name, errors, yaml_ok=True)
            if objects is not None and len(objects) != 1:
                errors.append(f"{name} must be a single JSON object")
            elif objects is not None:
                aux.append((int(index), objects[0]))
    if inputs is not None and aux:
        inputs = [dict(item, **{k: v for _, extra in sorted(aux, key=lambda a: a[0]) for k, v in extra.items()})
                  for item in inputs]
    if inputs is not None and run_ids and len(run_ids) != len(inputs):
        errors.append(f"Mismatch between requested IDs count ({len(run_ids)}) and workflow inputs counts ({len(inputs)})")
    if inputs is not None and batch and len(inputs) > most_runs:
        errors.append(f"The batch has {len(inputs):,} workflows; at most {most_runs:,} are allowed per batch submission")
    elif inputs is not None:
        for index, item in enumerate(inputs):
            where = f"workflow {index + 1} of the batch: " if len(inputs) > 1 else ""
            errors.extend(where + problem for problem in inputs_problems(item, limits=limits)[:10])

    options = {}
    if _too_big(parts, "workflowOptions", MAX_OPTIONS_BYTES, errors):
        pass
    elif "workflowOptions" in parts and parts["workflowOptions"].data.strip():
        value = _json(parts["workflowOptions"].text(), "workflowOptions", errors)
        if value is not None and not isinstance(value, dict):
            errors.append(f"Invalid workflow options provided: the options must be a JSON object, not {type(value).__name__}")
        elif value is not None:
            options = value
    labels = {}
    if "labels" in parts and parts["labels"].data.strip() and not _too_big(parts, "labels", MAX_LABELS_PART_BYTES, errors):
        labels = _labels(parts["labels"].text(), errors, limits)
    for what, value in (("workflowOptions", options), ("labels", labels)):
        problem = json_problem(value)
        if problem:
            errors.append(f"{what}: {problem}")

    if errors:
        raise ApiError(400, "Error(s): " + "\n".join(errors), errors)
    if not batch and len(inputs) > 1:
        raise ApiError(400, "To submit more than one workflow at a time, use the batch endpoint.")
    if source_part is None:  # fetched last, once everything else is known to be right
        source_part = Part(*workflow_url_fetch(parts["workflowUrl"].text()))
    filename = get_valid_filename((source_part.filename or "").rsplit("/", 1)[-1] or "main.wdl")
    if not filename.endswith(".wdl"):
        filename = "main.wdl"
    return Submission(source=source_part.data, filename=filename, imports=imports, inputs=inputs,
                      options=options, labels=labels, on_hold=on_hold,
                      run_ids=run_ids or [None] * len(inputs), warnings=warnings)
