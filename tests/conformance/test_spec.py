"""The WDL 1.1 specification's examples, run through the engine on the local backend.

Each example is submitted like any workflow (its sibling examples form its imports, its input
files come from the spec's tests/data/) and driven to its end. It passes when it succeeds with
the expected outputs or, for an example marked `fail`, when it is refused or fails.
known_failures.txt lists the examples Batchsite does not pass yet, each with its reason; an
example on the list that passes fails the suite until it is taken off: the list only shrinks.
"""
import functools
import io
import os
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from tests.conformance.extract import PINNED_COMMIT, Example, data_dir, load_examples, runnable, spec_path
from tests.conformance.outputs import mismatches
from tests.runs import Eager, drive
from workflows import engine
from workflows.services import document_for, run_submit, workflow_create

KNOWN_FAILURES_FILE = Path(__file__).with_name("known_failures.txt")
MIN_PASS_RATE = 0.65
SPEC = spec_path()


def known_failures() -> dict[str, str]:
    """Return {example name: reason} from known_failures.txt ("name: reason" lines, # comments)."""
    known = {}
    for line in KNOWN_FAILURES_FILE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, reason = line.partition(":")
            known[name.strip()] = reason.strip()
    return known


@functools.cache
def all_examples() -> list[Example]:
    return load_examples(SPEC) if SPEC.is_file() else []


@functools.cache
def imports_zip() -> bytes:
    """Zip every example as <name>.wdl: examples import each other by those names."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for example in all_examples():
            archive.writestr(f"{example.name}.wdl", example.wdl)
    return buffer.getvalue()


def run_example(example: Example, project, user) -> tuple[bool, str]:
    """Submit and drive one example; return (passed, what happened)."""
    data = data_dir(SPEC)
    try:
        workflow = workflow_create(project=project, name=example.name[:60], source=example.wdl.encode(),
                                   filename=f"{example.name}.wdl", imports=imports_zip(), user=user)
        version = workflow.versions.get()
        inputs = document_for(version).map_input_files(
            example.inputs, lambda path: path if "://" in path or os.path.isabs(path) else str(data / path))
        with Eager():
            run = drive(run_submit(version=version, user=user, inputs=inputs), timeout=60)
    except ValidationError as exc:
        return example.expects_failure, f"refused: {'; '.join(exc.messages)}"
    except engine.InputError as exc:
        return example.expects_failure, f"refused: inputs: {exc}"
    if run.status != "Succeeded":
        return example.expects_failure, f"{run.status}: {'; '.join(f['message'] for f in run.failures)}"
    if example.expects_failure:
        return False, f"succeeded, but the example must fail; outputs {run.outputs}"
    problems = mismatches(example.outputs, run.outputs, example.config)
    return not problems, "; ".join(problems) or "succeeded with the expected outputs"


MISSING = (f"the WDL 1.1 specification is not at {SPEC}: put SPEC.md of openwdl/wdl at commit {PINNED_COMMIT} there "
           f"(and its tests/data/ files in {data_dir(SPEC)}), or name the file in BATCHSITE_WDL_SPEC")


def test_the_pinned_specification_is_present():
    assert SPEC.is_file(), MISSING
    assert data_dir(SPEC).is_dir(), f"the examples' input files are missing: copy openwdl/wdl's tests/data/ to {data_dir(SPEC)}"


def test_every_known_failure_names_an_example_with_a_reason():
    assert SPEC.is_file(), MISSING
    names = {example.name for example in all_examples()}
    for name, reason in known_failures().items():
        assert name in names, f"known_failures.txt names {name}, which is no example of the pinned specification"
        assert reason, f"known_failures.txt gives no reason for {name}"


def test_at_least_65_percent_of_the_runnable_examples_pass():
    assert SPEC.is_file(), MISSING
    runnable_names = {example.name for example in all_examples() if runnable(example)}
    failing = set(known_failures()) & runnable_names
    assert runnable_names and 1 - len(failing) / len(runnable_names) >= MIN_PASS_RATE, (
        f"{len(failing)} of {len(runnable_names)} runnable examples are known to fail")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", [example.name for example in all_examples() if runnable(example)])
def test_spec_example(name, project, alice):
    example = next(example for example in all_examples() if example.name == name)
    known = known_failures()

    passed, detail = run_example(example, project, alice)
    if os.environ.get("BATCHSITE_SPEC_REPORT"):  # one line per example, to review the known failures
        with open(os.environ["BATCHSITE_SPEC_REPORT"], "a") as report:
            report.write(f"{'PASS' if passed else 'FAIL'} {name}: {detail}\n".replace("\n", " ") + "\n")

    if name in known:
        assert not passed, f"{name} now passes: take it off known_failures.txt (the list only shrinks)"
        pytest.xfail(known[name])
    assert passed, detail
