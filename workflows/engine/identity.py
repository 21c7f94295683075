"""What makes a task call what it is, for call caching: its file values and its output declarations."""
from typing import Callable

from WDL import Value

from .documents import Document, decl_type


def input_files(doc: Document, task: str, inputs: dict) -> dict[str, list[str]]:
    """Return {declaration: [paths of its File and Directory values]} of a call's (prepared) inputs JSON."""
    tree = doc.task(task)
    decls = {decl.name: decl for decl in (tree.inputs or []) + tree.postinputs}
    found: dict[str, list[str]] = {}
    for name, data in inputs.items():
        if name in decls:
            found[name] = _paths(Value.from_json(decl_type(decls[name]), data))
    return found


def declarations(doc: Document, task: str) -> tuple[dict[str, str], dict[str, str]]:
    """Return ({input name: type}, {output name: "type = expression"}) of a task, as written."""
    tree = doc.task(task)
    inputs = {decl.name: str(decl.type) for decl in (tree.inputs or []) + tree.postinputs}
    outputs = {decl.name: f"{decl.type} = {decl.expr}" for decl in tree.outputs}
    return inputs, outputs


def output_files(doc: Document, task: str, outputs: dict) -> list[str]:
    """Return the paths of the File and Directory values among a call's outputs JSON."""
    paths: list[str] = []
    for decl in doc.task(task).outputs:
        if decl.name in outputs:
            paths += _paths(Value.from_json(decl_type(decl), outputs[decl.name]))
    return paths


def map_output_files(doc: Document, task: str, outputs: dict, mapping: Callable[[str], str]) -> dict:
    """Return the outputs JSON with every File and Directory path passed through mapping."""
    mapped = dict(outputs)
    for decl in doc.task(task).outputs:
        if decl.name in outputs:
            value = Value.rewrite_paths(Value.from_json(decl_type(decl), outputs[decl.name]),
                                        lambda v: mapping(v.value))
            mapped[decl.name] = value.json
    return mapped


def _paths(value: Value.Base) -> list[str]:
    paths: list[str] = []

    def record(v: Value.Base) -> str:
        paths.append(v.value)
        return v.value
    Value.rewrite_paths(value, record)
    return paths
