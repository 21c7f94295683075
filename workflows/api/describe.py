"""Womtool's describe (POST /api/womtool/v1/describe) answered with miniwdl, in Cromwell's shape."""
import re

from django.conf import settings
from django.core.exceptions import ValidationError

from workflows import engine
from workflows.api.forms import Part
from workflows.services import wdl_check
from workflows.services.limits import json_load, json_problem

_PRIMITIVES = {"String", "File", "Directory", "Float", "Int", "Boolean"}


def _split_args(text: str) -> list[str]:
    args, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    args.append(text[start:].strip())
    return args


def value_type(type_text: str) -> dict:
    """Return Cromwell's valueType for a WDL type as miniwdl prints it ("Array[File]+?", "Map[String,Int]")."""
    text = type_text.strip()
    if text.endswith("?"):
        return {"typeName": "Optional", "optionalType": value_type(text[:-1])}
    non_empty = text.endswith("+")
    text = text.rstrip("+")
    match = re.fullmatch(r"(\w+)\[(.*)\]", text)
    if match:
        name, args = match.group(1), _split_args(match.group(2))
        if name == "Array" and len(args) == 1:
            result = {"typeName": "Array", "arrayType": value_type(args[0])}
            if non_empty:
                result["nonEmpty"] = True
            return result
        if name == "Map" and len(args) == 2:
            return {"typeName": "Map", "mapType": {"keyType": value_type(args[0]), "valueType": value_type(args[1])}}
        if name == "Pair" and len(args) == 2:
            return {"typeName": "Pair", "pairType": {"leftType": value_type(args[0]), "rightType": value_type(args[1])}}
    if text in _PRIMITIVES:
        return {"typeName": text}
    return {"typeName": "Object", "objectFieldTypes": []}  # a struct or Object: miniwdl's text has no members


def _declared_version(source: str) -> str:
    match = re.search(r"^\s*version\s+(\S+)", source, re.MULTILINE)
    return match.group(1) if match else "draft-2"


def workflow_describe(parts: dict[str, Part]) -> dict:
    """Validate a WDL (and, when given, its inputs) and describe its inputs, outputs and images."""
    source_part = parts.get("workflowSource") or parts.get("wdlSource")
    if source_part is None:
        message = ("workflowUrl is not supported: this server does not fetch workflows from URLs"
                   if "workflowUrl" in parts else "Either workflowSource or workflowUrl must be supplied")
        return _invalid([message], "draft-2")
    version = _declared_version(source_part.text())
    imports = parts["workflowDependencies"].data if "workflowDependencies" in parts else None
    try:
        doc = wdl_check(source=source_part.data, filename=source_part.filename or "main.wdl", imports=imports or None)
    except ValidationError as exc:
        return _invalid(exc.messages, version)
    errors = []
    inputs_part = parts.get("workflowInputs")
    limit = settings.BATCHSITE_DEFAULT_LIMITS["max_input_bytes_per_run"]  # no team here: the site's limit
    if inputs_part is not None and len(inputs_part.data) > limit:
        errors.append(f"The inputs are {len(inputs_part.data):,} bytes; at most {limit:,} are allowed")
    elif inputs_part is not None and inputs_part.data.strip():
        try:
            inputs = json_load(inputs_part.text())
        except ValueError as exc:
            errors.append(f"The inputs are {exc}")
        else:
            problem = json_problem(inputs) if isinstance(inputs, dict) else "The inputs must be a JSON object"
            if problem:
                errors.append(problem)
            else:
                try:
                    doc.check_inputs(inputs)
                except engine.InputError as exc:
                    errors.append(str(exc))
    return {
        "valid": not errors,
        "errors": errors,
        "validWorkflow": True,
        "name": doc.name,
        "inputs": [{"name": spec.name, "valueType": value_type(spec.type), "typeDisplayName": spec.type,
                    "optional": spec.optional or spec.default is not None, "default": spec.default}
                   for spec in doc.inputs],
        "outputs": [{"name": spec.name, "valueType": value_type(spec.type), "typeDisplayName": spec.type}
                    for spec in doc.outputs],
        "images": list(doc.images),
        "submittedDescriptorType": {"descriptorType": "WDL", "descriptorTypeVersion": doc.version},
        "importedDescriptorTypes": [],
        "meta": {},
        "parameterMeta": {},
        "isRunnableWorkflow": True,
    }


def _invalid(errors: list[str], version: str) -> dict:
    return {
        "valid": False, "errors": list(errors), "validWorkflow": False, "name": "", "inputs": [], "outputs": [],
        "images": [], "submittedDescriptorType": {"descriptorType": "WDL", "descriptorTypeVersion": version},
        "importedDescriptorTypes": [], "meta": {}, "parameterMeta": {}, "isRunnableWorkflow": False,
    }
