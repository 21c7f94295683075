"""Stepping a run: call ids, names and shards, persistence between batches, repeated deliveries."""
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest

from workflows import engine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCATTERS = """version 1.0
workflow shards {
  input {
    Array[Int] xs = [1, 2, 3]
  }
  call echo as before { input: x = 0 }
  scatter (x in xs) {
    call echo { input: x = x }
    scatter (y in [10, 20]) {
      call echo as inner { input: x = x * y }
    }
    if (x > 1) {
      call echo as big { input: x = x }
    }
  }
  output {
    Array[Int] ys = echo.y
    Array[Array[Int]] inner_ys = inner.y
    Array[Int?] big_ys = big.y
  }
}
task echo {
  input {
    Int x
  }
  command <<< echo ~{x} >>>
  output {
    Int y = read_int(stdout())
  }
}
"""

SUBWORKFLOWS = """version 1.0
import "lib.wdl" as lib
workflow main {
  call lib.pair as first { input: x = 1 }
  call lib.pair as second { input: x = 2 }
  scatter (x in [3, 4]) {
    call lib.pair as each { input: x = x }
  }
  output {
    Int a = first.total
    Int b = second.total
    Array[Int] c = each.total
  }
}
"""

LIB = """version 1.0
workflow pair {
  input {
    Int x
  }
  call add as up { input: x = x }
  call add as down { input: x = x }
  output {
    Int total = up.y + down.y
  }
}
task add {
  input {
    Int x
  }
  command <<< echo $(( ~{x} + 1 )) >>>
  output {
    Int y = read_int(stdout())
  }
}
"""


def lib_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lib.wdl", LIB)
    return buffer.getvalue()


def echo_outputs(calls):
    """Finish each echo/add call as its command would: y = x (echo) or x + 1 (add)."""
    return [(call.id, {"y": call.inputs["x"] + (1 if call.name in ("up", "down") else 0)})
            for call in calls]


def run_to_end(doc, state, calls, *, resave=True):
    while calls:
        if resave:
            state = engine.EngineState.loads(doc, state.dumps())
        calls = state.advance(echo_outputs(calls))
    return state


def test_calls_get_deterministic_ids_names_and_shard_indexes(tmp_path):
    doc = engine.load(SCATTERS)
    calls = engine.EngineState.start(doc, {}, run_dir=str(tmp_path)).advance()

    by_id = {call.id: call for call in calls}
    assert by_id["call-before"] == engine.TaskCall(id="call-before", fqn="shards.before", name="before",
                                                   shard_index=-1, task="echo", inputs={"x": 0})
    assert [(by_id[f"call-echo-{i}"].fqn, by_id[f"call-echo-{i}"].shard_index) for i in range(3)] == [
        ("shards.echo", 0), ("shards.echo", 1), ("shards.echo", 2)]
    # the innermost scatter gives the shard index
    assert by_id["call-inner-2-1"].shard_index == 1
    assert by_id["call-inner-2-1"].inputs == {"x": 60}
    # a conditional adds no index of its own
    assert by_id["call-big-2"].shard_index == 2
    assert "call-big-0" not in by_id
    assert len(calls) == 1 + 3 + 6 + 2


def test_ids_are_the_same_on_every_start(tmp_path):
    doc = engine.load(SCATTERS)
    first = engine.EngineState.start(doc, {}, run_dir=str(tmp_path / "a")).advance()
    second = engine.EngineState.start(doc, {}, run_dir=str(tmp_path / "b")).advance()

    assert first == second


def test_subworkflow_calls_have_unique_ids_and_cromwell_names(tmp_path):
    doc = engine.load(SUBWORKFLOWS, imports=lib_zip())
    calls = engine.EngineState.start(doc, {}, run_dir=str(tmp_path)).advance()

    ids = [call.id for call in calls]
    assert len(ids) == len(set(ids)) == 8
    by_id = {call.id: call for call in calls}
    inner = by_id["call-each-1/call-up"]
    assert (inner.fqn, inner.name, inner.shard_index, inner.task) == ("pair.up", "up", -1, "lib.add")
    assert "call-first/call-down" in by_id and "call-second/call-down" in by_id


def test_a_subworkflow_finishes_into_its_parent(tmp_path):
    doc = engine.load(SUBWORKFLOWS, imports=lib_zip())
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path))

    state = run_to_end(doc, state, state.advance())

    assert state.done
    assert state.outputs == {"main.a": 4, "main.b": 6, "main.c": [8, 10]}


def test_a_run_resumes_from_saved_bytes_between_batches(tmp_path):
    doc = engine.load(SCATTERS)
    state = engine.EngineState.start(doc, {"shards.xs": [1, 2]}, run_dir=str(tmp_path))
    calls = state.advance()
    saved = state.dumps()

    for call in calls:  # one call per batch, each from a freshly loaded state
        state = engine.EngineState.loads(engine.load(SCATTERS), saved)
        assert state.advance(echo_outputs([call])) == []
        saved = state.dumps()

    state = engine.EngineState.loads(doc, saved)
    assert state.done
    assert state.outputs == {"shards.ys": [1, 2], "shards.inner_ys": [[10, 20], [20, 40]],
                             "shards.big_ys": [None, 2]}


def test_a_call_delivered_twice_is_fed_once(tmp_path):
    doc = engine.load("""version 1.0
workflow chain {
  call echo as one { input: x = 1 }
  call echo as two { input: x = one.y + 1 }
  output { Int last = two.y }
}
task echo {
  input { Int x }
  command <<< echo ~{x} >>>
  output { Int y = read_int(stdout()) }
}
""")
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path))
    [one] = state.advance()

    [two] = state.advance([(one.id, {"y": 1}), (one.id, {"y": 1})])
    assert state.advance([(one.id, {"y": 1})]) == []
    assert state.advance([(two.id, {"y": 2}), (one.id, {"y": 1})]) == []
    state = engine.EngineState.loads(doc, state.dumps())
    assert state.advance([(two.id, {"y": 2})]) == []

    assert state.outputs == {"chain.last": 2}


def test_a_subworkflow_call_delivered_after_its_subworkflow_finished_is_ignored(tmp_path):
    doc = engine.load(SUBWORKFLOWS, imports=lib_zip())
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path))
    calls = state.advance()
    first = [call for call in calls if call.id.startswith("call-first/")]

    state.advance(echo_outputs(first))
    assert state.advance(echo_outputs(first)) == []

    state = run_to_end(doc, state, [call for call in calls if call not in first])
    assert state.outputs["main.a"] == 4


def test_an_unknown_call_id_is_an_error(tmp_path):
    state = engine.EngineState.start(engine.load(SCATTERS), {}, run_dir=str(tmp_path))
    state.advance()

    with pytest.raises(ValueError, match="unknown call"):
        state.advance([("call-nope", {})])


def test_outputs_are_not_there_before_the_run_is_done(tmp_path):
    state = engine.EngineState.start(engine.load(SCATTERS), {}, run_dir=str(tmp_path))
    state.advance()

    assert not state.done
    with pytest.raises(ValueError):
        state.outputs  # noqa: B018


def test_a_failing_workflow_expression_is_an_eval_error(tmp_path):
    doc = engine.load("""version 1.0
workflow w {
  call echo { input: x = 1 }
  Array[Int] ys = [echo.y]
  Int bad = ys[5]
}
task echo {
  input { Int x }
  command <<< echo ~{x} >>>
  output { Int y = read_int(stdout()) }
}
""")
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path))
    [call] = state.advance()

    with pytest.raises(engine.EvalError) as caught:
        state.advance([(call.id, {"y": 1})])

    assert caught.value.line == 5
    assert "decl-bad" in str(caught.value)


def test_a_task_only_document_is_one_call(tmp_path):
    doc = engine.load("version 1.0\ntask add {\n  input { Int a }\n  command <<< echo ~{a} >>>\n"
                      "  output { Int b = read_int(stdout()) + 1 }\n}\n")
    state = engine.EngineState.start(doc, {"add.a": 1}, run_dir=str(tmp_path))

    [call] = state.advance()
    assert call == engine.TaskCall(id="call-add", fqn="add", name="add", shard_index=-1, task="add",
                                   inputs={"a": 1})
    state = engine.EngineState.loads(doc, state.dumps())
    assert state.advance([(call.id, {"b": 2}), (call.id, {"b": 2})]) == []
    assert state.outputs == {"add.b": 2}


def test_start_rejects_bad_inputs(tmp_path):
    with pytest.raises(engine.InputError):
        engine.EngineState.start(engine.load(SCATTERS), {"shards.xs": "nope"}, run_dir=str(tmp_path))


def test_call_level_inputs_reach_the_call(tmp_path):
    doc = engine.load("""version 1.0
workflow w {
  call greet
}
task greet {
  input { String who = "world" }
  command <<< echo ~{who} >>>
}
""")
    [call] = engine.EngineState.start(doc, {"w.greet.who": "ann"}, run_dir=str(tmp_path)).advance()

    assert call.inputs == {"who": "ann"}


def test_workflow_reads_of_remote_files_go_through_localize(tmp_path):
    doc = engine.load("""version 1.0
workflow w {
  input { File list }
  Array[String] names = read_lines(list)
  output { Array[String] out = names }
}
""")
    local = tmp_path / "list.txt"
    local.write_text("a\nb\n")
    fetched = []

    def localize(uri):
        fetched.append(uri)
        return str(local)

    state = engine.EngineState.start(doc, {"w.list": "s3://bucket/list.txt"}, run_dir=str(tmp_path),
                                     localize=localize)
    assert state.advance() == []
    assert state.outputs == {"w.out": ["a", "b"]}
    assert fetched == ["s3://bucket/list.txt"]

    with pytest.raises(engine.EvalError, match="no way to fetch remote files"):
        engine.EngineState.start(doc, {"w.list": "s3://bucket/list.txt"}, run_dir=str(tmp_path)).advance()


def test_a_thousand_finished_shards_are_one_batch(tmp_path):
    doc = engine.load("""version 1.0
workflow big {
  scatter (i in range(1000)) {
    call echo { input: x = i }
  }
  output { Int total = length(echo.y) }
}
task echo {
  input { Int x }
  command <<< echo ~{x} >>>
  output { Int y = read_int(stdout()) }
}
""")
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path))
    calls = state.advance()
    assert len(calls) == 1000
    assert calls[0].id == "call-echo-000" and calls[-1].shard_index == 999

    state = engine.EngineState.loads(doc, state.dumps())
    assert state.advance(echo_outputs(calls)) == []
    assert state.outputs == {"big.total": 1000}


def test_a_saved_state_resumes_in_another_process(tmp_path):
    doc = engine.load(SCATTERS)
    state = engine.EngineState.start(doc, {"shards.xs": [5]}, run_dir=str(tmp_path))
    calls = state.advance()
    (tmp_path / "state.bin").write_bytes(state.dumps())
    (tmp_path / "finished.json").write_text(json.dumps(echo_outputs(calls)))
    (tmp_path / "main.wdl").write_text(SCATTERS)
    script = """
import json, sys
from pathlib import Path
from workflows import engine
folder = Path(sys.argv[1])
doc = engine.load((folder / "main.wdl").read_text())
state = engine.EngineState.loads(doc, (folder / "state.bin").read_bytes())
assert state.advance([tuple(item) for item in json.loads((folder / "finished.json").read_text())]) == []
(folder / "state.bin").write_bytes(state.dumps())
"""
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, check=True)

    state = engine.EngineState.loads(doc, (tmp_path / "state.bin").read_bytes())
    assert state.outputs == {"shards.ys": [5], "shards.inner_ys": [[50, 100]], "shards.big_ys": [5]}
    assert engine.EngineState.loads(doc, state.dumps()).done
