"""File values written as string literals in workflow declarations: values, as Cromwell takes them, never host files."""
import pytest

from tests.engine.driver import run_workflow
from workflows import engine


def run(body: str, tmp_path, tasks: str = "") -> tuple[str, dict]:
    return run_workflow(engine.load(f"version 1.1\nworkflow w {{\n{body}\n}}\n{tasks}"), {}, tmp_path)


def test_a_file_literal_is_a_value_to_compare_print_and_collect(tmp_path):
    status, outputs = run('''
  File f = "a.bam"
  Array[Pair[String, File]] pairs = [("x", "b/c.bam")]
  Map[String, File] by_name = {"a": "/data/a.bam"}
  output {
    Boolean same = f == "a.bam" && pairs[0].right == "b/c.bam" && by_name["a"] == "/data/a.bam"
    String shown = "~{f} ~{basename(by_name["a"])}"
  }''', tmp_path)

    assert (status, outputs) == ("Succeeded", {"w.same": True, "w.shown": "a.bam a.bam"})


def test_a_file_literal_passed_to_a_call_is_refused_saying_what_to_change(tmp_path):
    status, result = run('''
  File f = "/etc/hostname"
  call show { input: f = f }''', tmp_path, tasks="task show { input { File f } command <<< cat ~{f} >>> }")

    assert status == "Failed" and result["failed_call"] is None
    assert "call show input uses /etc/hostname, which is neither an input of the run nor an output" in result["error"]
    assert "make it a workflow input" in result["error"] and "allow_any_input" not in result["error"]


def test_a_file_literal_as_a_workflow_output_is_refused(tmp_path):
    status, result = run('''
  File f = "/etc/hostname"
  output { File g = f }''', tmp_path)

    assert status == "Failed" and "uses /etc/hostname, which is neither an input of the run" in result["error"]


@pytest.mark.parametrize("expression", ['read_string("/etc/hostname")', 'size("/etc/hostname")',
                                        'length(read_lines("/etc/hostname"))'])
def test_an_expression_cannot_read_a_host_file_through_a_literal(expression, tmp_path):
    status, result = run(f'''
  String s = "~{{{expression}}}"
  output {{ String o = s }}''', tmp_path)

    assert status == "Failed"
    assert "/etc/hostname is a string literal, not a file the run was given or produced" in result["error"]


def test_a_literal_that_names_a_workflow_input_file_stays_readable(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("hello\n")
    doc = engine.load('version 1.1\nworkflow w {\n  input { File given }\n'
                      f'  String s = read_string("{data}")\n  output {{ String o = s }}\n}}\n')

    assert run_workflow(doc, {"w.given": str(data)}, tmp_path / "run") == ("Succeeded", {"w.o": "hello"})


def test_a_literal_stays_a_value_through_other_declarations_and_scatters(tmp_path):
    status, outputs = run('''
  String p = "/path/to/file"
  File g = p
  Map[String, Pair[File, File]] y = {"a": ("a.bam", "a.bai")}
  scatter (item in as_pairs(y)) {
    Pair[File, File] files = item.right
    File bam = files.left
  }
  Array[File] expected = ["a.bam"]
  output { Boolean same = g == "/path/to/file" && bam == expected }''', tmp_path)

    assert (status, outputs) == ("Succeeded", {"w.same": True})


def test_a_literal_reached_through_a_string_declaration_still_cannot_be_read(tmp_path):
    status, result = run('''
  String p = "/etc/hostname"
  File g = p
  String s = read_string(g)''', tmp_path)

    assert status == "Failed" and "/etc/hostname is a string literal" in result["error"]


def test_a_literal_in_an_input_default_is_a_value_too(tmp_path):
    doc = engine.load('version 1.1\nworkflow w {\n  input {\n    Map[String, File] by_name = {"a": "a.bam"}\n  }\n'
                      '  output { Boolean same = by_name["a"] == "a.bam" }\n}\n')

    assert run_workflow(doc, {}, tmp_path) == ("Succeeded", {"w.same": True})
