"""The WDL corpus through `manage.py run_wdl`: the real engine, database and local backend."""
import io
import json
import zipfile
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


LIB = 'version 1.0\nimport "shared/words.wdl" as words\ntask greet {\n  input { String who }\n' \
      '  command <<< echo "hello ~{who}" >>>\n  output { String line = read_string(stdout()) }\n}\n'
WORDS = 'version 1.0\nstruct Word { String text }\n'
MAIN = 'version 1.0\nimport "lib.wdl" as lib\nworkflow w {\n  call lib.greet { input: who = "there" }\n' \
       '  output { String line = greet.line }\n}\n'


@pytest.mark.django_db(transaction=True)
def test_imports_next_to_the_wdl_file_are_found_as_cromwell_run_finds_them(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "lib.wdl").write_text(LIB)
    (tmp_path / "shared" / "words.wdl").write_text(WORDS)  # imported by lib.wdl, relative to it
    (tmp_path / "main.wdl").write_text(MAIN)
    out = io.StringIO()

    call_command("run_wdl", str(tmp_path / "main.wdl"), "--poll", "0.02", stdout=out, stderr=io.StringIO())

    assert json.loads(out.getvalue()) == {"w.line": "hello there"}
    version = Run.objects.get().version
    with zipfile.ZipFile(version.imports.open()) as kept:  # the version keeps the imports as its zip
        assert sorted(kept.namelist()) == ["lib.wdl", "shared/words.wdl"]


@pytest.mark.django_db(transaction=True)
def test_a_missing_sibling_import_names_the_file_and_its_importer(tmp_path):
    (tmp_path / "main.wdl").write_text(MAIN)

    with pytest.raises(CommandError, match=r"cannot read the file lib.wdl that main.wdl imports, .*lib.wdl: No such file"):
        call_command("run_wdl", str(tmp_path / "main.wdl"), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_import_outside_the_wdl_files_folder_is_refused_pointing_to_imports_zip(tmp_path):
    (tmp_path / "lib.wdl").write_text(LIB)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "main.wdl").write_text(MAIN.replace('"lib.wdl"', '"../lib.wdl"'))

    with pytest.raises(CommandError, match=r"main.wdl imports ../lib.wdl, which is outside .*pass --imports"):
        call_command("run_wdl", str(tmp_path / "run" / "main.wdl"), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()
