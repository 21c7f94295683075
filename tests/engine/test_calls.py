"""Evaluating one task call: command and runtime before it runs, outputs after."""
import json
import os
import subprocess
import sys

import pytest

from workflows import engine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TASKS = """version 1.1

struct Sample {
  String name
  File reads
}

workflow tasks {
  call returns
}

task count {
  input {
    File reads
    Array[String] names
    Int threads = 2
    String? label
    String image = "ubuntu:22.04"
  }
  Int doubled = threads * 2
  Array[String] first_lines = read_lines(reads)
  command <<<
    echo "threads=~{doubled} label=~{default='none' label}"
    cat ~{write_lines(names)} > names.txt
    wc -l < "~{reads}"
  >>>
  runtime {
    docker: image
    cpu: 1.5
    memory: "2 GiB"
    disks: "local-disk 10 SSD"
    maxRetries: 2
    preemptible: 1
    failOnStderr: "true"
    continueOnReturnCode: [0, 1]
    zones: "us-east-1a"
  }
  output {
    String banner = read_lines(stdout())[0]
    Int lines = read_lines(stdout())[1]
    File names_file = "names.txt"
    Array[File] texts = glob("*.txt")
    File? missing = "missing.txt"
    File reads_again = reads
    String first = first_lines[0]
    String err = read_string(stderr())
  }
}

task returns {
  command <<< exit 0 >>>
  runtime {
    continueOnReturnCode: false
    returnCodes: "*"
    memory: 1000
  }
}

task outputs {
  input {
    Sample sample
  }
  command <<< >>>
  output {
    File result = "result.txt"
    Int number = read_int("number.txt")
    File escape = "/etc/hostname"
    Sample copy = sample
  }
}

task bad_runtime {
  command <<< >>>
  runtime {
    memory: "lots"
  }
}

task reads_input {
  input {
    File numbers
  }
  Int n = read_int(numbers)
  command <<< echo ~{n} >>>
}
"""


@pytest.fixture
def doc():
    return engine.load(TASKS)


@pytest.fixture
def reads(tmp_path):
    path = tmp_path / "reads.txt"
    path.write_text("r1\nr2\nr3\n")
    return str(path)


def run_command(prepared, work_dir, call_dir):
    stdout, stderr = os.path.join(call_dir, "stdout"), os.path.join(call_dir, "stderr")
    with open(stdout, "w") as out, open(stderr, "w") as err:
        rc = subprocess.run(["bash", "-c", prepared.command], cwd=work_dir, stdout=out, stderr=err).returncode
    return rc, stdout, stderr


def test_prepare_evaluates_declarations_command_and_runtime(doc, reads, tmp_path):
    work_dir = str(tmp_path / "call" / "work")

    prepared = engine.prepare(doc, "count", {"reads": reads, "names": ["a", "b"], "label": None},
                              work_dir=work_dir)

    assert "threads=4 label=none" in prepared.command
    assert f'wc -l < "{reads}"' in prepared.command
    assert prepared.runtime == {
        "docker": "ubuntu:22.04", "cpu": 2, "memory": 2 * 1024 ** 3, "disks": "local-disk 10 SSD",
        "maxRetries": 2, "preemptible": 1, "failOnStderr": True, "continueOnReturnCode": [0, 1],
        "zones": "us-east-1a",
    }
    assert prepared.inputs["doubled"] == 4
    assert prepared.inputs["first_lines"] == ["r1", "r2", "r3"]
    assert prepared.inputs["reads"] == reads
    [written] = prepared.written
    assert written.startswith(work_dir + "/")
    assert open(written).read() == "a\nb\n"
    assert f"cat {written} > names.txt" in prepared.command


def test_return_codes_win_over_continue_on_return_code(doc, tmp_path):
    prepared = engine.prepare(doc, "returns", {}, work_dir=str(tmp_path / "work"))

    assert prepared.runtime == {"continueOnReturnCode": True, "memory": 1000}


def test_an_unusable_runtime_value_is_an_eval_error(doc, tmp_path):
    with pytest.raises(engine.EvalError, match="memory"):
        engine.prepare(doc, "bad_runtime", {}, work_dir=str(tmp_path / "work"))


def test_a_failing_declaration_is_an_eval_error(doc, tmp_path):
    text = tmp_path / "numbers.txt"
    text.write_text("not a number\n")

    with pytest.raises(engine.EvalError) as caught:
        engine.prepare(doc, "reads_input", {"numbers": str(text)}, work_dir=str(tmp_path / "work"))

    assert caught.value.where == "task reads_input"


def test_collect_evaluates_outputs_after_the_command(doc, reads, tmp_path):
    call_dir = tmp_path / "call"
    work_dir = str(call_dir / "work")
    prepared = engine.prepare(doc, "count", {"reads": reads, "names": ["a", "b"]}, work_dir=work_dir)
    rc, stdout, stderr = run_command(prepared, work_dir, str(call_dir))
    assert rc == 0

    outputs = engine.collect(doc, "count", prepared.inputs, work_dir=work_dir, stdout=stdout, stderr=stderr)

    assert outputs == {
        "banner": "threads=4 label=none", "lines": 3, "names_file": os.path.join(work_dir, "names.txt"),
        "texts": [os.path.join(work_dir, "names.txt")], "missing": None, "reads_again": reads,
        "first": "r1", "err": "",
    }


def test_collect_names_a_missing_output_file(doc, tmp_path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "number.txt").write_text("7\n")

    with pytest.raises(engine.OutputError) as caught:
        engine.collect(doc, "outputs", {"sample": {"name": "s", "reads": "s3://b/r.fq"}}, work_dir=str(work_dir),
                       stdout=str(tmp_path / "stdout"), stderr=str(tmp_path / "stderr"))

    assert caught.value.name == "result"
    assert str(caught.value).startswith("output result: ")


def test_collect_names_an_unreadable_output(doc, tmp_path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "result.txt").write_text("ok")
    (work_dir / "number.txt").write_text("seven\n")

    with pytest.raises(engine.OutputError) as caught:
        engine.collect(doc, "outputs", {"sample": {"name": "s", "reads": "s3://b/r.fq"}}, work_dir=str(work_dir),
                       stdout=str(tmp_path / "stdout"), stderr=str(tmp_path / "stderr"))

    assert caught.value.name == "number"


def test_collect_refuses_an_output_outside_the_work_dir(doc, tmp_path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "result.txt").write_text("ok")
    (work_dir / "number.txt").write_text("7")

    with pytest.raises(engine.OutputError) as caught:
        engine.collect(doc, "outputs", {"sample": {"name": "s", "reads": "s3://b/r.fq"}}, work_dir=str(work_dir),
                       stdout=str(tmp_path / "stdout"), stderr=str(tmp_path / "stderr"))

    assert caught.value.name == "escape"
    assert "outside the call's working directory" in caught.value.message


def test_map_path_gives_the_command_container_paths_and_outputs_uris(doc, tmp_path):
    call_dir = tmp_path / "call"
    work_dir = str(call_dir / "work")
    local_copy = tmp_path / "copy.txt"
    local_copy.write_text("r1\nr2\n")
    fetched = []

    def localize(uri):
        if "://" not in uri:
            return uri  # a local file: as a workspace's localize does
        fetched.append(uri)
        return str(local_copy)

    def to_container(path):
        return path.replace("s3://", "/mnt/s3/") if path.startswith("s3://") else "/mnt/work/" + os.path.relpath(path, work_dir)

    prepared = engine.prepare(doc, "count", {"reads": "s3://bucket/reads.txt", "names": ["a"]},
                              work_dir=work_dir, map_path=to_container, localize=localize)

    assert 'wc -l < "/mnt/s3/bucket/reads.txt"' in prepared.command
    assert "cat /mnt/work/write_/" in prepared.command
    assert prepared.inputs["reads"] == "s3://bucket/reads.txt"
    assert prepared.inputs["first_lines"] == ["r1", "r2"]
    assert fetched == ["s3://bucket/reads.txt"]

    # a remote backend ran the command and brought work_dir back; outputs go to S3
    (call_dir / "work" / "names.txt").write_text("a\n")
    (call_dir / "stdout").write_text("threads=4 label=none\n2\n")
    (call_dir / "stderr").write_text("")
    outputs = engine.collect(doc, "count", prepared.inputs, work_dir=work_dir, stdout=str(call_dir / "stdout"),
                             stderr=str(call_dir / "stderr"), localize=localize,
                             map_path=lambda path: "s3://out/" + os.path.relpath(path, str(call_dir)))

    assert outputs["names_file"] == "s3://out/work/names.txt"
    assert outputs["texts"] == ["s3://out/work/names.txt"]
    assert outputs["reads_again"] == "s3://bucket/reads.txt"  # an input passes through unchanged
    assert outputs["lines"] == 2


def test_collect_works_in_another_process_from_json_only(doc, reads, tmp_path):
    call_dir = tmp_path / "call"
    work_dir = str(call_dir / "work")
    prepared = engine.prepare(doc, "count", {"reads": reads, "names": ["x"]}, work_dir=work_dir)
    rc, stdout, stderr = run_command(prepared, work_dir, str(call_dir))
    (tmp_path / "main.wdl").write_text(TASKS)
    (tmp_path / "inputs.json").write_text(json.dumps(prepared.inputs))
    script = """
import json, sys
from pathlib import Path
from workflows import engine
folder, work_dir, stdout, stderr = sys.argv[1:]
doc = engine.load(Path(folder, "main.wdl").read_text())
inputs = json.loads(Path(folder, "inputs.json").read_text())
print(json.dumps(engine.collect(doc, "count", inputs, work_dir=work_dir, stdout=stdout, stderr=stderr)))
"""
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path), work_dir, stdout, stderr],
                            cwd=ROOT, check=True, capture_output=True, text=True)

    outputs = json.loads(result.stdout)
    assert outputs["lines"] == 3
    assert outputs["first"] == "r1"
    assert open(outputs["names_file"]).read() == "x\n"


def test_structs_with_files_pass_through_collect(doc, tmp_path):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    (work_dir / "result.txt").write_text("ok")
    (work_dir / "number.txt").write_text("7")
    source = TASKS.replace('    File escape = "/etc/hostname"\n', "")
    doc = engine.load(source)

    outputs = engine.collect(doc, "outputs", {"sample": {"name": "s", "reads": "s3://b/r.fq"}},
                             work_dir=str(work_dir), stdout=str(tmp_path / "o"), stderr=str(tmp_path / "e"))

    assert outputs == {"result": str(work_dir / "result.txt"), "number": 7,
                       "copy": {"name": "s", "reads": "s3://b/r.fq"}}


@pytest.mark.parametrize(("runtime", "rc", "ok"), [
    ({}, 0, True),
    ({}, 1, False),
    ({"continueOnReturnCode": True}, 7, True),
    ({"continueOnReturnCode": False}, 0, True),
    ({"continueOnReturnCode": False}, 1, False),
    ({"continueOnReturnCode": 3}, 3, True),
    ({"continueOnReturnCode": 3}, 0, False),
    ({"continueOnReturnCode": [0, 4]}, 4, True),
    ({"continueOnReturnCode": [0, 4]}, 1, False),
])
def test_return_code_ok_follows_cromwell(runtime, rc, ok):
    assert engine.return_code_ok(runtime, rc) is ok
