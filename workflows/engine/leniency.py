"""What the WDL specification or Cromwell accepts and miniwdl refuses.

Three spellings are respelt in place, at the position miniwdl's error names, and the file loaded
again (miniwdl itself is unchanged): the Object type becomes Map[String, String] (what
read_object() returns), a WDL 1.1 call body without `input:` gets it, and a meta or
parameter_meta key given twice keeps its last one-line entry (as Cromwell does; the earlier ones
are blanked, so columns stay). The rest stay refused, with a message that names the fix that
makes the file valid for Cromwell and Batchsite alike.
"""
import re
from typing import Callable

from WDL import Error

from .errors import WdlError

MAX_RESPELLINGS = 50  # loads of one document; each round respells every place its errors name
OBJECT_TYPE = "Map[String, String]"

OBJECT_FIX = ("Object cannot be read as a type here (Batchsite reads a declared Object as Map[String, String]; "
              "WDL 1.1 deprecates Object): declare Map[String, String] instead, which read_object() and "
              "read_objects() return, and write the file with write_map() or write_json() where Cromwell's "
              "write_object() was used")
RESERVED_FIX = ("{word} is reserved for the members of a Pair, so it cannot name an input, output or declaration "
                "(Cromwell takes it in WDL 1.0): rename it, for example to {word}_value, and its uses with it")
DUPLICATE_FIX = ("{section} gives {keys} more than once, and an earlier entry spans several lines (Cromwell "
                 "keeps the last value; Batchsite drops earlier one-line entries only): keep one entry for each key")


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
        error.message = DUPLICATE_FIX.format(section=section, keys=", ".join(keys)) if keys else (
            f"{section} gives a key twice inside one of its entries: keep one entry for each key")
    return error


def _duplicate_keys(lines: list[str]) -> list[str]:
    """Return the keys given twice at the top level of the meta section whose first line is lines[0]."""
    names = [name for name, _, _ in _meta_entries(lines)]
    return sorted({name for name in names if names.count(name) > 1}, key=names.index)


def _meta_entries(lines: list[str]) -> list[tuple[str, int, bool]]:
    """Return (key, index of its line, whether the entry fits on that line) for each top-level key of a meta section."""
    entries, depth = [], 0
    for number, line in enumerate(lines):
        text = line if number else line[line.find("{"):]
        key = re.match(r"\s*\{?\s*(\w+)\s*:", text) if depth == 1 else None
        opened = text.count("{") + text.count("[") - text.count("}") - text.count("]")
        if key:
            entries.append((key.group(1), number, opened == 0 and not text.lstrip().startswith("{")))
        depth += opened
        if number and depth <= 0:
            break
    return entries


def _drop_earlier_duplicates(text: "Respelt", line: int) -> bool:
    """Blank each one-line meta entry that a later entry of the same key overrides, as Cromwell keeps the last."""
    entries = _meta_entries(text.lines[line - 1:])
    last = {name: index for index, (name, _, _) in enumerate(entries)}
    earlier = [(name, number, whole) for index, (name, number, whole) in enumerate(entries) if last[name] != index]
    if not earlier or not all(whole for _, _, whole in earlier):
        return False  # an entry over several lines: leave it to the message
    for _, number, _ in earlier:
        row = text.lines[line - 1 + number]
        body = row.strip()
        text.replace(line + number, row.index(body), body, " " * len(body))
    return True


class Respelt:
    """A file's text with respellings applied, remembering each column's place in the original."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.origin = [list(range(len(line) + 1)) for line in self.lines]

    def text(self) -> str:
        return "\n".join(self.lines)

    def replace(self, line: int, start: int, old: str, new: str) -> bool:
        """Replace old at 0-based column start of 1-based line with new; False when old is not there."""
        if not 0 < line <= len(self.lines) or self.lines[line - 1][start:start + len(old)] != old:
            return False
        text, origin = self.lines[line - 1], self.origin[line - 1]
        self.lines[line - 1] = text[:start] + new + text[start + len(old):]
        self.origin[line - 1] = origin[:start] + [origin[start]] * len(new) + origin[start + len(old):]
        return True

    def original_column(self, line: int, column: int) -> int:
        """Map a 1-based column of the respelt text to the column of the text as written."""
        origin = self.origin[line - 1] if 0 < line <= len(self.origin) else []
        return origin[min(column - 1, len(origin) - 1)] + 1 if origin else column


def respell(exn: Exception, texts: dict[str, str], respelt: dict[str, Respelt], uri_of: Callable) -> bool:
    """Respell every place exn names that can be; return whether anything changed."""
    changed = False
    for error in _causes(exn):
        pos = getattr(error, "pos", None)
        if pos is None or pos.line < 1:
            continue
        uri = uri_of(pos)
        if uri not in texts:
            continue
        text = respelt.setdefault(uri, Respelt(texts[uri]))
        message = str(error)
        if isinstance(error, Error.SyntaxError) and "calls require input: keyword" in message:
            changed |= text.replace(pos.line, pos.column - 1, "", "input: ")
        elif message.startswith("duplicate keys in meta object"):
            changed |= _drop_earlier_duplicates(text, pos.line)
        elif message.endswith("Unknown type Object"):
            line = text.lines[pos.line - 1] if pos.line <= len(text.lines) else ""
            declared = re.match(r"[\w\[\],\s?+]*", line[pos.column - 1:]).group(0)  # the type, then the name
            for found in reversed(list(re.finditer(r"\bObject\b", declared))):
                changed |= text.replace(pos.line, pos.column - 1 + found.start(), "Object", OBJECT_TYPE)
    return changed


def _causes(exn: Exception):
    """Yield exn's errors: each of several, and the error inside an import."""
    if isinstance(exn, Error.MultipleValidationErrors):
        for error in exn.exceptions:
            yield from _causes(error)
    elif isinstance(exn, Error.ImportError) and exn.__cause__ is not None:
        yield from _causes(exn.__cause__)
    else:
        yield exn
