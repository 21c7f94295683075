"""The WDL corpus through `manage.py run_wdl`: the real engine, database and local backend."""
import io
import json
from collections import defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.engine.test_corpus import CASES, CORPUS, normalise, zip_folder
from workflows.models import Call, Run


def run_wdl(tmp_path: Path, folder: Path, *args: str) -> tuple[int, str, str]:
    argv = [str(folder / "main.wdl")]
    if (folder / "inputs.json").is_file():
        argv += ["--inputs", str(folder / "inputs.json")]
    if (folder / "imports").is_dir():
        zip_path = tmp_path / "imports.zip"
        zip_path.write_bytes(zip_folder(folder / "imports"))
        argv += ["--imports", str(zip_path)]
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("run_wdl", *argv, *args, "--poll", "0.02", stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", CASES)
def test_corpus_case_through_run_wdl(case, tmp_path):
    folder = CORPUS / case
    expected = json.loads((folder / "expected.json").read_text())

    code, out, err = run_wdl(tmp_path, folder)

    run = Run.objects.get()
    assert run.status == expected["status"], err
    if expected["status"] == "Succeeded":
        assert code == 0, err
        assert normalise(json.loads(out)) == expected["outputs"]
    else:
        assert code == 1
        assert f"Failed call: {expected['failed_call']}" in err
        if expected.get("rc") is not None:
            assert f"return code {expected['rc']}" in err
    # Every call attempt ran in Cromwell's layout under the run's root, once: one row and one
    # directory per attempt, and a new attempt only after a failed one (the retry cases).
    for call in Call.objects.filter(run=run, status=Call.Status.SUCCEEDED):
        assert (Path(call.call_dir) / "execution" / "rc").read_text().strip().isdigit()
    attempts = defaultdict(list)
    for call in Call.objects.filter(run=run).order_by("attempt"):
        attempts[call.call_id].append(call)
    for call_id, rows in attempts.items():
        assert [c.attempt for c in rows] == list(range(1, len(rows) + 1)), call_id
        assert all(c.status == Call.Status.RETRIED for c in rows[:-1]), call_id
        assert len({c.call_dir for c in rows}) == len(rows), call_id
        assert len(rows) == 1 or case.startswith("retry"), call_id


@pytest.mark.django_db(transaction=True)
def test_a_lone_task_runs_as_miniwdl_runs_it(tmp_path):
    wdl = tmp_path / "t.wdl"
    wdl.write_text('version 1.0\ntask t { input { Int x = 2 } command <<< echo $(( ~{x} * 21 )) >>> '
                   'output { Int y = read_int(stdout()) } }\n')
    out = io.StringIO()
    call_command("run_wdl", str(wdl), stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue()) == {"t.y": 42}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("content, problem", [
    ("version 1.0\nworkflow w { call nope }\n", "bad.wdl:2:14:"),
    ("version 1.0\nworkflow w { Int x = }\n", "bad.wdl:2:"),
])
def test_malformed_wdl_is_a_clear_error_and_writes_no_run(tmp_path, content, problem):
    wdl = tmp_path / "bad.wdl"
    wdl.write_text(content)
    with pytest.raises(CommandError, match=problem):
        call_command("run_wdl", str(wdl), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inputs, problem", [
    ({"w.n": "three"}, "w.n"),
    ({"w.nosuch": 1}, "w.nosuch"),
    ({}, "w.n: required input is missing"),
])
def test_bad_inputs_are_a_clear_error_naming_the_input(tmp_path, inputs, problem):
    wdl = tmp_path / "w.wdl"
    wdl.write_text("version 1.0\nworkflow w { input { Int n } output { Int m = n } }\n")
    inputs_file = tmp_path / "inputs.json"
    inputs_file.write_text(json.dumps(inputs))
    with pytest.raises(CommandError, match=problem):
        call_command("run_wdl", str(wdl), "--inputs", str(inputs_file), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_inputs_that_are_not_json_name_the_position(tmp_path):
    wdl = tmp_path / "w.wdl"
    wdl.write_text("version 1.0\nworkflow w { input { Int n } output { Int m = n } }\n")
    inputs_file = tmp_path / "inputs.json"
    inputs_file.write_text('{"w.n": 1,,}')
    with pytest.raises(CommandError, match="line 1 column 11"):
        call_command("run_wdl", str(wdl), "--inputs", str(inputs_file), stdout=io.StringIO(), stderr=io.StringIO())
