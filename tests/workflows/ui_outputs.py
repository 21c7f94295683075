"""A finished run whose File outputs (alone, in an array, a map, a pair and a struct) lie in its directory."""
import os
from pathlib import Path

from tests.workflows.ui_factories import make_run
from workflows.services import workflow_create

FILES_WDL = """version 1.0
struct Result {
  File table
  Int rows
}
workflow files {
  input {
    File report
    Array[File] parts
    Map[String, File] by_sample
    Pair[File, Int] pair
    Result result
    String note = "not a file"
  }
  output {
    File report_out = report
    Array[File] parts_out = parts
    Map[String, File] by_sample_out = by_sample
    Pair[File, Int] pair_out = pair
    Result result_out = result
    String note_out = note
  }
}
"""
REPORT = "sample\treads\nNA12878\t1000\n<script>alert(1)</script>\n"


def files_run(project, user, *, big: bytes = b"x" * (200 * 1024)):
    """Write a succeeded run of FILES_WDL whose output files exist under its directory; return it."""
    workflow = workflow_create(project=project, name="Files", source=FILES_WDL.encode(), filename="files.wdl",
                               user=user)
    run = make_run(workflow, user, inputs={})
    call = Path(run.root) / "call-files" / "execution"
    call.mkdir(parents=True)
    (call / "report.tsv").write_text(REPORT)
    (call / "part-0.txt").write_text("part zero\n")
    (call / "part-1.bin").write_bytes(b"\x00\x01\x02binary")
    (call / "big.txt").write_bytes(big)
    (call / "table.csv").write_text("a,b\n1,2\n")
    run.outputs = {
        "files.report_out": str(call / "report.tsv"),
        "files.parts_out": [str(call / "part-0.txt"), str(call / "part-1.bin")],
        "files.by_sample_out": {"NA12878": str(call / "big.txt")},
        "files.pair_out": {"left": str(call / "gone.txt"), "right": 3},
        "files.result_out": {"table": str(call / "table.csv"), "rows": 1},
        "files.note_out": "not a file",
    }
    run.save(update_fields=["outputs"])
    return run


def link_out(run, name: str, target: str) -> str:
    """Make an output path of the run a link to target (what a sandboxed command could leave); return it."""
    path = Path(run.root) / "call-files" / "execution" / name
    os.symlink(target, path)
    return str(path)
