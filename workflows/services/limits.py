"""What a submission may hold: the team's limits, Cromwell's label rules and storable JSON.

One implementation for the browser form, the Cromwell API and run_wdl; each problem names its field.
"""
import functools
import json
import math
import os
import re
import uuid
from typing import Callable

from django.conf import settings
from django.core.exceptions import ValidationError

from teams.models import Team
from teams.selectors import team_limits
from workflows.backends.base import path_within
from workflows.engine import is_uri

LABEL_MAX = 255  # Cromwell's Label.MaxLabelLength, for keys (at least 1 character) and values
JSON_MAX_DEPTH = 64  # nesting of a JSON value: WDL's deepest real inputs are a few levels
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1  # a WDL Int is 64-bit
MAX_OPTIONS_BYTES = 1024 * 1024
PROJECT_LABEL = "batchsite-project"  # the API's submissions name their team/project with it; fixed once set


def json_load(text: str | bytes):
    """Parse JSON; every problem (syntax, nesting, a number of thousands of digits) is a ValueError saying what."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits, or bytes that are not UTF-8
        raise ValueError(f"not valid JSON: {str(exc)[:100]}") from None


def json_size(value) -> int:
    """Return the bytes of a value as compact UTF-8 JSON."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))


def text_problem(text: str) -> str | None:
    """Return why a text cannot be stored in PostgreSQL (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it holds a lone surrogate, such as \\ud800)"
    return None


def json_problem(value, *, path: str = "") -> str | None:
    """Return "<where>: <problem>" for the first thing a database could not store in a JSON value, else None.

    Refused: NUL characters and lone surrogates in strings or keys, NaN and infinities, integers
    beyond 64 bits, nesting deeper than JSON_MAX_DEPTH.
    """
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        label = where or "the value"
        if depth > JSON_MAX_DEPTH:
            return f"{label}: is nested more than {JSON_MAX_DEPTH} levels deep"
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return f"{label}: {problem}"
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                shown = str(item)[:30] + "..." if item.bit_length() < 10_000 else "an integer"
                return f"{label}: {shown} is out of range (a 64-bit integer)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{label}: {item} is not a finite number"
        elif isinstance(item, dict):
            for key, child in item.items():
                key_problem = text_problem(key) if isinstance(key, str) else "is not a string key"
                name = f"{where}.{key}" if where else str(key)
                if key_problem:
                    return f"{name[:300]!r}: the key {key_problem}"
                stack.append((child, name, depth + 1))
        elif isinstance(item, (list, tuple)):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
        else:
            return f"{label}: a {type(item).__name__} is not a JSON value"
    return None


def labels_problems(labels: dict, *, max_labels: int | None = None) -> list[str]:
    """Return what breaks Cromwell's label rules (string key of 1-255 characters, string value of 0-255) or the count."""
    problems = []
    if max_labels is not None and len(labels) > max_labels:
        problems.append(f"{len(labels):,} labels given: at most {max_labels:,} are allowed per run")
    for key, value in labels.items():
        shown = key[:40] + ("…" if len(key) > 40 else "")
        if not isinstance(value, str):
            problems.append(f"Invalid label {shown}: {json.dumps(value)[:40]} : Labels must be strings "
                            "(each label must have a string value).")
        elif not key or len(key) > LABEL_MAX:
            problems.append(f"Invalid label: `{shown}` is {len(key)} characters; a key must be 1 to {LABEL_MAX} "
                            "characters")
        elif len(value) > LABEL_MAX:
            problems.append(f"Invalid label value for {shown}: {len(value)} characters, the maximum is {LABEL_MAX}")
        else:
            problem = text_problem(key) or text_problem(value)
            if problem:
                problems.append(f"Invalid label {shown!r}: it {problem}")
        if len(problems) >= 10:
            break
    return problems


def labels_check(labels: dict, *, limits: dict) -> dict:
    """Raise ValidationError on the labels field when labels break the rules or the team's count."""
    problems = labels_problems(labels, max_labels=limits["max_labels_per_run"])
    if problems:
        raise ValidationError({"labels": problems})
    return labels


def inputs_problems(inputs: dict, *, limits: dict) -> list[str]:
    """Return "<input>: <problem>" lines for a run's inputs over the team's size limits or not storable."""
    per_value, per_run = limits["max_input_bytes_per_value"], limits["max_input_bytes_per_run"]
    problem = json_problem(inputs)
    if problem:
        return [problem]
    problems = []
    for name, value in inputs.items():
        size = json_size(value)
        if size > per_value:
            problems.append(f"{name}: is {size:,} bytes of JSON; at most {per_value:,} are allowed per input")
    total = json_size(inputs)
    if total > per_run:
        problems.append(f"the inputs are {total:,} bytes of JSON; at most {per_run:,} are allowed per run")
    return problems


def inputs_check(inputs: dict, *, limits: dict) -> dict:
    """Raise ValidationError on the inputs field when a run's inputs exceed the team's limits."""
    problems = inputs_problems(inputs, limits=limits)
    if problems:
        raise ValidationError({"inputs": problems})
    return inputs


def queued_runs_check(*, team: Team, adding: int = 1, limits: dict | None = None) -> None:
    """Refuse runs that would take the team past its limit of unfinished runs."""
    from workflows.models import Run

    limit = (limits or team_limits(team))["max_queued_runs"]
    active = [status for status in Run.Status.values if status not in Run.TERMINAL]
    unfinished = Run.objects.filter(team=team, status__in=active).count()
    if unfinished + adding > limit:
        wanted = f"{adding:,} more runs" if adding > 1 else "another run"
        raise ValidationError({"__all__": f"team {team.slug} has {unfinished:,} runs not finished (its limit is "
                                          f"{limit:,}), so {wanted} cannot start; try again when some have ended"})


def batch_size_check(*, count: int, limits: dict) -> None:
    """Refuse a batch submission with more runs than the team allows at once."""
    if count > limits["max_runs_per_batch"]:
        raise ValidationError({"__all__": f"the batch has {count:,} workflows; at most "
                                          f"{limits['max_runs_per_batch']:,} are allowed per batch submission"})


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def input_files_check(*, team: Team, files: list[tuple[str, str]], trusted: bool = False) -> None:
    """Refuse File and Directory inputs a run of the team may not read, naming each input.

    A file of a run is readable by runs of that run's team only; Batchsite's own files (under its
    var folder: the database, uploads, the queue) by no run; any other host path only from a folder
    in BATCHSITE_INPUT_PATHS, unless the submission is run_wdl's own (trusted). Object-store URIs
    are read with the team's job role, which bounds them.
    """
    problems = [f"{key}: {why}" for key, why in _unreadable(team.pk, files, trusted=trusted)[:10]]
    if problems:
        raise ValidationError({"inputs": problems})


def host_reads(run, *own: str) -> Callable[[str], None]:
    """Return the engine's readable(path) for the run: host_read_check with the run's own folders
    (its root, and where the worker keeps its files: own), resolved once."""
    folders = tuple(_resolved(folder) for folder in (run.root, *own) if not is_uri(folder))
    return functools.partial(host_read_check, team_id=run.team_id, own=folders, trusted=run.trusted)


@functools.lru_cache(maxsize=4096)
def _resolved(folder: str) -> str:
    # Batchsite's own folders (runs' roots, their calls' directories): where they lead does not change.
    return os.path.realpath(folder)


def host_read_check(path: str, *, team_id: int, own: tuple[str, ...], trusted: bool) -> None:
    """Raise OSError unless a run may read this host path now: input_files_check's rule, asked again as
    the engine opens the file in the worker (a link checked at submission may point elsewhere by then).
    own: the run's own folders, already resolved."""
    real = os.path.realpath(path)
    if any(path_within(real, folder) for folder in own):
        return  # the run's own files: the fast way, for every call's outputs
    for _, why in _unreadable(team_id, [("", path)], trusted=trusted):
        raise OSError(why)


def _unreadable(team_id: int, files: list[tuple[str, str]], *, trusted: bool) -> list[tuple[str, str]]:
    """Return (key, why) for each (key, path) the team's runs may not read, following links where they point now."""
    from workflows.models import Run  # models import this module's limits

    where = {path: path if is_uri(path) else os.path.realpath(path) for _, path in files}
    ids = {uuid.UUID(m) for w in where.values() for m in _UUID.findall(w)}
    roots = [(root if is_uri(root) else os.path.realpath(root), owner) for root, owner in
             Run.objects.filter(pk__in=ids).values_list("root", "team_id")] if ids else []
    var = os.path.realpath(settings.VAR_DIR)
    readable = [os.path.realpath(p) for p in settings.BATCHSITE_INPUT_PATHS]
    problems = []
    for key, path in files:
        real = where[path]
        owner = next((owner for root, owner in roots if path_within(real, root)), None)
        if owner is not None:
            if owner != team_id:
                problems.append((key, f"{path} is a file of another team's run"))
        elif is_uri(path):
            continue
        elif path_within(real, var):
            problems.append((key, f"{path} is one of Batchsite's own files; a run may read only its inputs "
                                  "and its team's runs"))
        elif not trusted and not any(path_within(real, folder) for folder in readable):
            folders = ", ".join(settings.BATCHSITE_INPUT_PATHS) or "none"
            problems.append((key, f"{path} is not in a folder runs may read from (BATCHSITE_INPUT_PATHS: "
                                  f"{folders})"))
    return problems
