"""Compare a run's outputs with an example's expected outputs, as the WDL Markdown test format does."""
import math
import os
from pathlib import Path


def excluded(config: dict) -> set[str]:
    """Return the output names (without the workflow's name) the example says not to compare."""
    names = config.get("exclude_output") or []
    return {names} if isinstance(names, str) else set(names)


def mismatches(expected: dict, actual: dict, config: dict) -> list[str]:
    """Return what differs between expected and actual outputs; an empty list means they match."""
    skip = excluded(config)
    problems = []
    for key, want in expected.items():
        if key.split(".", 1)[-1] in skip:
            continue
        if key not in actual:
            problems.append(f"{key}: missing (outputs are {sorted(actual)})")
        elif not same(want, actual[key]):
            problems.append(f"{key}: expected {want!r}, got {actual[key]!r}")
    return problems


def same(want, got) -> bool:
    """Tell whether an output value matches the expected one; a File matches by its name."""
    if isinstance(want, bool) or isinstance(got, bool):
        return want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(want, got, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(want, str) and isinstance(got, str):
        if want == got:
            return True
        # a File output is a path of this run; the example names the file or gives a path of its own
        return os.path.isabs(got) and (Path(got).exists() or "://" in got) and \
            Path(got).name == Path(want.rstrip("/")).name
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(same(w, g) for w, g in zip(want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(same(want[k], got[k]) for k in want)
    return want == got
