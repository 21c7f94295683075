"""Standard library results where Batchsite follows the WDL 1.1 specification rather than miniwdl."""
import json
from pathlib import Path

from tests.engine.driver import run_workflow
from workflows import engine


def test_write_json_refuses_a_map_whose_keys_are_not_strings(tmp_path):
    doc = engine.load('version 1.1\nworkflow w {\n  Pair[Int, Map[Int, String]] x = (1, {2: "hello"})\n'
                      '  File f = write_json(x)\n}\n')

    status, result = run_workflow(doc, {}, tmp_path)

    assert status == "Failed"
    assert "write_json(): a Map with Int keys cannot be written as JSON; only Map[String, X] can" in result["error"]


def test_write_json_writes_pairs_structs_and_string_keyed_maps(tmp_path):
    doc = engine.load('version 1.1\nworkflow w {\n  Pair[Int, Map[String, Int]] x = (1, {"a": 2})\n'
                      '  call show { input: f = write_json(x) }\n  output { String json = show.text }\n}\n'
                      'task show {\n  input { File f }\n  command <<< cat ~{f} >>>\n'
                      '  output { String text = read_string(stdout()) }\n}\n')

    status, outputs = run_workflow(doc, {}, tmp_path)

    assert status == "Succeeded", outputs
    assert json.loads(outputs["w.json"]) == {"left": 1, "right": {"a": 2}}


def test_a_task_write_json_of_an_int_keyed_map_fails_its_call(tmp_path):
    doc = engine.load('version 1.1\ntask t {\n  input { Map[Int, Int] m = {1: 2} }\n'
                      '  command <<< cat ~{write_json(m)} >>>\n}\n')

    status, result = run_workflow(doc, {}, tmp_path)

    assert status == "Failed" and "a Map with Int keys cannot be written as JSON" in result["error"]
    assert not list(Path(tmp_path).rglob("write_/*"))  # refused before any file was written


def test_return_codes_is_the_wdl_1_1_spelling_of_return_codes(tmp_path):
    doc = engine.load('version 1.1\ntask t {\n  command <<< exit 42 >>>\n  runtime { return_codes: [1, 42] }\n}\n')

    assert run_workflow(doc, {}, tmp_path) == ("Succeeded", {})
