"""Cromwell's multipart submission (PartialWorkflowSources): each part as a form field or a file part."""
import dataclasses
import json
import re
import uuid

from django.utils.text import get_valid_filename

from workflows.api.http import ApiError, reject_nul

KNOWN_PARTS = {
    "workflowSource", "wdlSource", "workflowUrl", "workflowRoot", "workflowType", "workflowTypeVersion",
    "workflowInputs", "workflowOptions", "labels", "workflowDependencies", "wdlDependencies",
    "workflowOnHold", "requestedWorkflowId",
}
INPUTS_AUX = "workflowInputs_"
WDL_VERSIONS = {"draft-2", "draft-3", "1.0", "1.1", "1.2", "development"}


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
        parts[name] = Part(upload.read(), upload.name or name)
    return parts


def _json(text: str, what: str, errors: list[str]):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.append(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        errors.append(f"{what} is nested too deeply")
    return None


def _json_objects(text: str, what: str, errors: list[str]) -> list[dict] | None:
    before = len(errors)
    value = _json(text, what, errors)
    if len(errors) > before:
        return None
    items = value if isinstance(value, list) else [value]
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


def _labels(text: str, errors: list[str]) -> dict:
    value = _json(text, "labels", errors)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append('Invalid workflow labels JSON. Expected a JsObject of "labelKey": "labelValue" values.')
        return {}
    errors.extend(labels_problems(value))
    return value


def labels_problems(labels: dict) -> list[str]:
    """Return what is wrong with Cromwell labels: keys of 1-255 characters, string values of at most 255."""
    problems = []
    for key, value in labels.items():
        if not isinstance(value, str):
            problems.append(f"Invalid label {key}: {json.dumps(value)} : Labels must be strings.")
        elif not key or len(key) > 255:
            problems.append(f"Invalid label key {key!r}: a key must be 1 to 255 characters")
        elif len(value) > 255:
            problems.append(f"Invalid label value for {key}: a value must be at most 255 characters")
    return problems


def submission_parse(parts: dict[str, Part], *, batch: bool) -> Submission:
    """Check the parts of a submission as Cromwell does; raise ApiError(400) listing every problem."""
    errors, warnings = [], []
    unknown = sorted(name for name in parts if name not in KNOWN_PARTS and not name.startswith(INPUTS_AUX))
    errors.extend(f"Unexpected body part name: {name}" for name in unknown)

    sources = [key for key in ("wdlSource", "workflowSource", "workflowUrl") if key in parts]
    if not sources:
        errors.append("workflowSource or workflowUrl needs to be supplied")
    elif len(sources) > 1:
        errors.append(f"{' and '.join(sources)} can't both be supplied" if len(sources) == 2
                      else "wdlSource, workflowSource and workflowUrl all 3 can't be supplied")
    elif sources == ["workflowUrl"]:
        errors.append("workflowUrl is not supported: this server does not fetch workflows from URLs; "
                      "send the WDL itself as workflowSource (and its imports as workflowDependencies)")
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

    run_ids = _requested_ids(parts["requestedWorkflowId"].text(), errors) if "requestedWorkflowId" in parts else []

    inputs: list[dict] | None = [{}]
    if "workflowInputs" in parts and parts["workflowInputs"].data.strip():
        inputs = _json_objects(parts["workflowInputs"].text(), "workflowInputs", errors)
    elif batch:
        errors.append("No inputs were provided")
        inputs = None
    aux = []
    for name in parts:
        if name.startswith(INPUTS_AUX):
            index = name[len(INPUTS_AUX):]
            if not re.fullmatch(r"-?\d+", index):
                errors.append(f"{name}: the part number {index!r} is not an integer")
                continue
            objects = _json_objects(parts[name].text(), name, errors)
            if objects is not None and len(objects) != 1:
                errors.append(f"{name} must be a single JSON object")
            elif objects is not None:
                aux.append((int(index), objects[0]))
    if inputs is not None and aux:
        inputs = [dict(item, **{k: v for _, extra in sorted(aux, key=lambda a: a[0]) for k, v in extra.items()})
                  for item in inputs]
    if inputs is not None and run_ids and len(run_ids) != len(inputs):
        errors.append(f"Mismatch between requested IDs count ({len(run_ids)}) and workflow inputs counts ({len(inputs)})")

    options = {}
    if "workflowOptions" in parts and parts["workflowOptions"].data.strip():
        value = _json(parts["workflowOptions"].text(), "workflowOptions", errors)
        if value is not None and not isinstance(value, dict):
            errors.append(f"Invalid workflow options provided: the options must be a JSON object, not {type(value).__name__}")
        elif value is not None:
            options = value
    labels = _labels(parts["labels"].text(), errors) if "labels" in parts and parts["labels"].data.strip() else {}

    if errors:
        raise ApiError(400, "Error(s): " + "\n".join(errors), errors)
    reject_nul(inputs, "The inputs")
    reject_nul(options, "The options")
    reject_nul(labels, "The labels")
    if not batch and len(inputs) > 1:
        raise ApiError(400, "To submit more than one workflow at a time, use the batch endpoint.")
    filename = get_valid_filename((source_part.filename or "").rsplit("/", 1)[-1] or "main.wdl")
    if not filename.endswith(".wdl"):
        filename = "main.wdl"
    return Submission(source=source_part.data, filename=filename, imports=imports, inputs=inputs,
                      options=options, labels=labels, on_hold=on_hold,
                      run_ids=run_ids or [None] * len(inputs), warnings=warnings)
