"""What Cromwell accepts in WDL 1.0 and miniwdl refuses: errors that say exactly what to change.

Batchsite parses with miniwdl unchanged, so these stay refused; the message names the fix that
makes the file valid for Cromwell and Batchsite alike.
"""
import re

from .errors import WdlError

OBJECT_FIX = ("the Object type is not supported (WDL 1.1 deprecates it; Cromwell still takes it): declare "
              "Map[String, String] instead, which read_object() and read_objects() return, and write the file "
              "with write_map() or write_json() where Cromwell's write_object() was used")
RESERVED_FIX = ("{word} is reserved for the members of a Pair, so it cannot name an input, output or declaration "
                "(Cromwell takes it in WDL 1.0): rename it, for example to {word}_value, and its uses with it")
DUPLICATE_FIX = ("{section} gives {keys} more than once (Cromwell keeps the last value; miniwdl refuses): "
                 "keep one entry for each key")


def leniency_error(error: WdlError, texts: dict[str, str]) -> WdlError:
    """Return error reworded to name the fix when it is one of Cromwell's known leniencies."""
    message = error.message
    if message == "Unknown type Object":
        error.message = OBJECT_FIX
    elif match := re.fullmatch(r"unexpected keyword (left|right)", message):
        error.message = RESERVED_FIX.format(word=match.group(1))
    elif message.startswith("duplicate keys in meta object") and error.line:
        lines = texts.get(error.uri, "").splitlines()[error.line - 1:]
        section = "parameter_meta" if lines and "parameter_meta" in lines[0] else "meta"
        keys = _duplicate_keys(lines)
        error.message = DUPLICATE_FIX.format(section=section, keys=", ".join(keys) if keys else "a key")
    return error


def _duplicate_keys(lines: list[str]) -> list[str]:
    """Return the keys given twice at the top level of the meta section whose first line is lines[0]."""
    seen, twice, depth = set(), [], 0
    for number, line in enumerate(lines):
        text = line if number else line[line.find("{"):]
        if depth == 1 and (key := re.match(r"\s*\{?\s*(\w+)\s*:", text)):
            if key.group(1) in seen and key.group(1) not in twice:
                twice.append(key.group(1))
            seen.add(key.group(1))
        depth += text.count("{") + text.count("[") - text.count("}") - text.count("]")
        if number and depth <= 0:
            break
    return twice
