"""Reading HOCON as Cromwell writes it: includes, errors that name the file and the line, and
values read at dotted key paths with the path in every error.

Plain Python and pyhocon only (no Django). batchsite/config.py turns what this reads into typed config.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

from pyhocon import ConfigFactory
from pyhocon.exceptions import ConfigException
from pyparsing import ParseBaseException

# Cromwell finds classpath(...) includes in its jar; Batchsite in this folder.
DEFAULTS_DIR = Path(__file__).resolve().with_name("defaults")
# An include directive at the start of a line or just after "{". Found by hand because
# pyhocon's grammar rejects classpath(...), which every real Cromwell config starts with.
_INCLUDE = re.compile(
    r"""(?P<lead>^[ \t]*|\{[ \t]*)include[ \t]+
    (?P<required>required[ \t]*\([ \t]*)?
    (?:(?P<kind>classpath|file|url|package)[ \t]*\([ \t]*)?
    "(?P<name>[^"\n]*)"
    (?P<close>(?:[ \t]*\))*)""",
    re.MULTILINE | re.VERBOSE,
)
MISSING = object()


class ConfigError(ValueError):
    """A config Batchsite cannot use; the message names the file and the key path."""

    def __init__(self, problem: str, *, file: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.file = file

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}" if self.file else self.problem


def parse(text: str, *, base_dir: Path, source: str, notes: list[str]) -> dict:
    """Parse HOCON text whose relative includes resolve against base_dir; skipped includes go to notes."""
    with tempfile.TemporaryDirectory(prefix="batchsite-config-") as workdir:
        includer = _Includer(Path(workdir), notes)
        rewritten = includer.rewrite(text, source, base_dir)
        try:
            tree = ConfigFactory.parse_string(rewritten, basedir=str(base_dir))
        except (ParseBaseException, ConfigException) as exc:
            raise ConfigError(includer.unmap(_parse_problem(exc))) from None
    return tree.as_plain_ordered_dict()


class _Includer:
    """Copy included files into workdir with every include made an absolute file include."""

    def __init__(self, workdir: Path, notes: list[str]):
        self.workdir, self.notes = workdir, notes
        self.copies: dict[Path, Path] = {}
        self.sources: dict[str, str] = {}  # copy -> the file it came from, for messages
        self.stack: list[Path] = []

    def unmap(self, message: str) -> str:
        for copy, source in self.sources.items():
            message = message.replace(copy, source)
        return message

    def rewrite(self, text: str, source: str, base_dir: Path) -> str:
        # Each file is syntax-checked alone first, so an error names the file it is in.
        try:
            ConfigFactory.parse_string(_INCLUDE.sub(lambda m: m.group("lead"), text), resolve=False)
        except (ParseBaseException, ConfigException) as exc:
            raise ConfigError(_parse_problem(exc), file=source) from None
        return _INCLUDE.sub(lambda m: self._replace(m, text, source, base_dir), text)

    def _replace(self, match: re.Match, text: str, source: str, base_dir: Path) -> str:
        lead, kind, name = match.group("lead"), match.group("kind"), match.group("name")
        required = bool(match.group("required"))
        line = text.count("\n", 0, match.start("name")) + 1
        where = f"line {line}: {match.group(0)[len(lead):].strip()}"
        if match.group("close").count(")") != required + bool(kind):
            raise ConfigError(f"{where}: unbalanced parentheses", file=source)
        if kind in ("url", "package"):
            raise ConfigError(f"{where}: {kind}(...) includes are not supported; include a file", file=source)
        # Cromwell finds classpath resources in its jar; Batchsite in its defaults folder.
        found = _existing((DEFAULTS_DIR if kind == "classpath" else base_dir) / name)
        if found is None and required and kind == "classpath":
            known = ", ".join(sorted(p.name for p in DEFAULTS_DIR.glob("*.conf")))
            raise ConfigError(f'{where}: Batchsite bundles no resource "{name}" (it has {known})', file=source)
        if found is None and required:
            raise ConfigError(f'{where}: no file "{base_dir / name}"', file=source)
        if found is None:  # HOCON skips an include that is not there unless it is required
            self.notes.append(f"{source}: {where}: not found, skipped")
            return lead
        return f"{lead}include required(file({json.dumps(str(self._copy(found)))}))"

    def _copy(self, path: Path) -> Path:
        if path in self.stack:
            raise ConfigError("include cycle: " + " -> ".join(str(p) for p in self.stack + [path]))
        if path not in self.copies:
            self.stack.append(path)
            text = read_file(path)
            rewritten = self.rewrite(text, str(path), path.parent)
            self.stack.pop()
            # Only files with includes are copied (workdir is 0700 and deleted right after
            # parsing), so a file holding keys and no includes is never written anywhere.
            copy = path
            if rewritten != text:
                copy = self.workdir / f"{len(self.copies)}-{path.name}"
                copy.write_text(rewritten, encoding="utf-8")
                self.sources[str(copy)] = str(path)
            self.copies[path] = copy
        return self.copies[path]


def read_file(path: Path) -> str:
    """Return a config file's text; ConfigError naming the file if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read: not UTF-8 text (byte {exc.start})", file=str(path)) from None


def _existing(path: Path) -> Path | None:
    # HOCON lets an include leave out the .conf extension.
    for candidate in (path, path.with_name(path.name + ".conf")):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _parse_problem(exc: Exception) -> str:
    if isinstance(exc, ParseBaseException):
        return f"HOCON syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}"
    return f"HOCON error: {exc}"


def show(value: Any) -> str:
    if isinstance(value, (Mapping, list, tuple)):
        return "an object" if isinstance(value, Mapping) else "a list"
    return json.dumps(value) if isinstance(value, (str, bool)) or value is None else str(value)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def value_at(tree: Mapping, key: str, path: str) -> Any:
    """Return the value at dotted key under tree (whose own key path is path), or MISSING."""
    for part in key.split("."):
        if not isinstance(tree, Mapping):
            raise ConfigError(f"{path}: expected an object, got {show(tree)}")
        if tree.get(part) is None:  # HOCON null counts as unset
            return MISSING
        tree, path = tree[part], join(path, part)
    return tree


def obj(tree: Mapping, key: str, path: str) -> Mapping:
    value = value_at(tree, key, path)
    if value is not MISSING and not isinstance(value, Mapping):
        raise ConfigError(f"{join(path, key)}: expected an object, got {show(value)}")
    return {} if value is MISSING else value


def string(tree: Mapping, key: str, path: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = value_at(tree, key, path)
    if value is MISSING and required:
        raise ConfigError(f"{join(path, key)}: missing (required)")
    if value is MISSING:
        return default
    if isinstance(value, (Mapping, list, bool)):
        raise ConfigError(f"{join(path, key)}: expected a string, got {show(value)}")
    return str(value)


def integer(tree: Mapping, key: str, path: str, *, default: int | None = None) -> int | None:
    value = value_at(tree, key, path)
    if value is MISSING:
        return default
    # A quoted number is that number, as with Typesafe Config's getInt.
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"{path}.{key}: expected an integer, got {show(value)}")
    if value < 1:
        raise ConfigError(f"{path}.{key}: expected a positive integer, got {value}")
    return value
