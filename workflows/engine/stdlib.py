"""Where the WDL 1.1 specification is clear and miniwdl's standard library differs, Batchsite's result.

Applied to every standard library the engine builds (workflow, task inputs, task outputs).
"""
import json

from WDL import Type, Value
from WDL.StdLib import StaticFunction


def apply_spec_fixes(stdlib) -> None:
    """Replace the functions of a miniwdl standard library whose results differ from the specification."""
    write = stdlib._write(lambda value, outfile: outfile.write(json.dumps(value.json).encode("utf-8")))

    def write_json(value: Value.Base) -> Value.File:
        _check_json_keys(value)  # before writing: a refused value leaves no file behind
        return write(value)

    stdlib.write_json = StaticFunction("write_json", [Type.Any()], Type.File(), write_json)


def _check_json_keys(value: Value.Base) -> None:
    """Refuse a Map whose keys are not Strings: the spec says write_json cannot serialise it (JSON keys are strings)."""
    if isinstance(value, Value.Map):
        for key, item in value.value:
            if not isinstance(key, Value.String) or isinstance(key, (Value.File, Value.Directory)):
                raise ValueError(f"write_json(): a Map with {key.type} keys cannot be written as JSON; "
                                 "only Map[String, X] can (JSON object keys are strings)")
            _check_json_keys(item)
    elif isinstance(value, Value.Array):
        for item in value.value:
            _check_json_keys(item)
    elif isinstance(value, Value.Pair):
        _check_json_keys(value.value[0])
        _check_json_keys(value.value[1])
    elif isinstance(value, Value.Struct):
        for item in value.value.values():
            _check_json_keys(item)
