"""Womtool's describe (POST /api/womtool/v1/describe) answered with miniwdl, in Cromwell's shape."""
import re

from django.conf import settings
from django.core.exceptions import ValidationError

from workflows import engine
from workflows.api.forms import Part, inputs_load
from workflows.api.urlfetch import workflow_url_fetch
from workflows.services import wdl_check
from workflows.services.limits import json_problem

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


def value_type(type_text: str, structs: dict[str, dict[str, str]] | None = None) -> dict:
    """Return Cromwell's valueType for a WDL type as miniwdl prints it ("Array[File]+?", "Map[String,Int]").

    structs maps each struct's name to its members' types (Document.structs); Cromwell describes a
    struct as an Object with objectFieldTypes, and every Array with nonEmpty (true for Array[T]+).
    """
    structs = structs or {}
    text = type_text.strip()
    if text.endswith("?"):
        return {"typeName": "Optional", "optionalType": value_type(text[:-1], structs)}
    non_empty = text.endswith("+")
    text = text.rstrip("+")
    match = re.fullmatch(r"(\w+)\[(.*)\]", text)
    if match:
        name, args = match.group(1), _split_args(match.group(2))
        if name == "Array" and len(args) == 1:
            return {"typeName": "Array", "arrayType": value_type(args[0], structs), "nonEmpty": non_empty}
        if name == "Map" and len(args) == 2:
            return {"typeName": "Map", "mapType": {"keyType": value_type(args[0], structs),
                                                   "valueType": value_type(args[1], structs)}}
        if name == "Pair" and len(args) == 2:
            return {"typeName": "Pair", "pairType": {"leftType": value_type(args[0], structs),
                                                     "rightType": value_type(args[1], structs)}}
    if text in _PRIMITIVES:
        return {"typeName": text}
    members = structs.get(text, {})  # a struct; WDL's untyped Object has no members to list
    return {"typeName": "Object", "objectFieldTypes": [
        {"fieldName": name, "fieldType": value_type(member, structs)} for name, member in members.items()]}


def _declared_version(source: str) -> str:
    match = re.search(r"^\s*version\s+(\S+)", source, re.MULTILINE)
    return match.group(1) if match else "draft-2"


def workflow_describe(parts: dict[str, Part]) -> dict:
    """Validate a WDL (and, when given, its inputs) and describe its inputs, outputs, meta and images.

    As womtool: a library of tasks is valid but not a runnable workflow; a WDL that fails to load is answered
    200 with its errors; a WDL that cannot be had (no source, a workflowUrl refused) is a 400.
    """
    source_part = parts.get("workflowSource") or parts.get("wdlSource")
    if source_part is None and "workflowUrl" in parts:
        source_part = Part(*workflow_url_fetch(parts["workflowUrl"].text()))
    if source_part is None:
        return _invalid(["Either workflowSource or workflowUrl must be supplied"], "draft-2")
    version = _declared_version(source_part.text())
    imports = parts["workflowDependencies"].data if "workflowDependencies" in parts else None
    try:
        doc = wdl_check(source=source_part.data, filename=source_part.filename or "main.wdl", imports=imports or None,
                        runnable=False)
    except ValidationError as exc:
        return _invalid(exc.messages, version)
    errors = []
    inputs_part = parts.get("workflowInputs")
    limit = settings.BATCHSITE_DEFAULT_LIMITS["max_input_bytes_per_run"]  # no team here: the site's limit
    if inputs_part is not None and len(inputs_part.data) > limit:
        errors.append(f"The inputs are {len(inputs_part.data):,} bytes; at most {limit:,} are allowed")
    elif inputs_part is not None and inputs_part.data.strip():
        try:
            inputs = inputs_load(inputs_part.text())
        except ValueError as exc:
            errors.append(f"The inputs are {exc}")
        else:
            problem = json_problem(inputs) if isinstance(inputs, dict) else "The inputs must be a JSON object"
            if problem:
                errors.append(problem)
            elif doc.executable is None:
                errors.append("There is no workflow or task to check the inputs against")
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
        "inputs": [{"name": spec.name, "valueType": value_type(spec.type, doc.structs), "typeDisplayName": spec.type,
                    "optional": spec.optional or spec.default is not None, "default": spec.default}
                   for spec in doc.inputs],
        "outputs": [{"name": spec.name, "valueType": value_type(spec.type, doc.structs), "typeDisplayName": spec.type}
                    for spec in doc.outputs],
        "images": list(doc.images),
        "submittedDescriptorType": {"descriptorType": "WDL", "descriptorTypeVersion": doc.version},
        "importedDescriptorTypes": [],
        "meta": doc.meta,
        "parameterMeta": doc.parameter_meta,
        "isRunnableWorkflow": doc.tree.workflow is not None,  # as womtool: a lone task is described, not runnable
    }


def _invalid(errors: list[str], version: str) -> dict:
    return {
        "valid": False, "errors": list(errors), "validWorkflow": False, "name": "", "inputs": [], "outputs": [],
        "images": [], "submittedDescriptorType": {"descriptorType": "WDL", "descriptorTypeVersion": version},
        "importedDescriptorTypes": [], "meta": {}, "parameterMeta": {}, "isRunnableWorkflow": False,
    }
