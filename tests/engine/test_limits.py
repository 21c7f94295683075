"""A run's limits in the engine: calls per run (range(), cross(), scatters, nesting, subworkflows),
saved state size, and the time and memory budget of one step."""
import pickle
import resource
import threading
import time

import pytest
from WDL.runtime._workflow_state import StateMachine

from tests.engine.test_machine import SCATTERS, SUBWORKFLOWS, echo_outputs, lib_zip, run_to_end
from workflows import engine

WIDE = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) { call t { input: i = i } }
}
task t { input { Int i } command <<< echo ~{i} >>> }
"""

NESTED = """version 1.0
workflow wf {
  input { Int n  Int m }
  scatter (i in range(n)) {
    scatter (j in range(m)) { call t { input: i = i * j } }
  }
}
task t { input { Int i } command <<< echo ~{i} >>> }
"""

NO_CALLS = """version 1.0
workflow wf {
  input { Array[Int] xs }
  scatter (x in xs) { Int y = x * 2 }
  output { Array[Int] ys = y }
}
"""

CROSSED = """version 1.0
workflow wf {
  input { Int n }
  Array[Pair[Int, Int]] pairs = cross(range(n), range(n))
  output { Int count = length(pairs) }
}
"""


def start(wdl, inputs, tmp_path, **limits):
    return engine.EngineState.start(engine.load(wdl), inputs, run_dir=str(tmp_path),
                                    limits=engine.Limits(**limits))


@pytest.mark.parametrize("n", [100_000_000_000, 99_999_999_999_999_999_999_999])
def test_range_over_the_call_limit_fails_at_once_in_bounded_memory(tmp_path, n):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    began = time.monotonic()
    state = start(WIDE, {"wf.n": n}, tmp_path, max_calls=100_000)
    with pytest.raises(engine.EvalError) as failure:  # not the budget's LimitError: range() refused first
        engine.within_budget(state.advance, seconds=10, memory_bytes=500 * 2**20)
    assert time.monotonic() - began < 5  # refused, not stopped by the 10 s budget
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 50 * 2**20
    assert f"range({n}) would have more than 100,000 items" in str(failure.value)
    assert "max_calls_per_run of 100,000" in str(failure.value)
    assert "main.wdl:4:17" in str(failure.value)  # where the range() is


TWO_PER_SHARD = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) {
    call t { input: i = i }
    call t as u { input: i = i }
  }
}
task t { input { Int i } command <<< echo ~{i} >>> }
"""


def test_a_run_up_to_the_limit_runs_and_one_more_call_fails(tmp_path):
    state = start(WIDE, {"wf.n": 50}, tmp_path, max_calls=50)
    assert len(state.advance()) == 50 and state.calls == 50
    with pytest.raises(engine.EvalError, match=r"range\(51\) would have more than 50 items"):
        start(WIDE, {"wf.n": 51}, tmp_path, max_calls=50).advance()
    state = start(TWO_PER_SHARD, {"wf.n": 26}, tmp_path, max_calls=50)  # range(26) is fine, 52 calls are not
    with pytest.raises(engine.LimitError) as failure:
        state.advance()
    assert failure.value.limit == "max_calls_per_run"
    assert "the run would make more than 50 calls (call t is the next)" in str(failure.value)
    assert len(start(TWO_PER_SHARD, {"wf.n": 25}, tmp_path, max_calls=50).advance()) == 50


def test_nested_scatters_count_every_call_of_the_run(tmp_path):
    # each range() is small; together they are over
    state = start(NESTED, {"wf.n": 30, "wf.m": 30}, tmp_path, max_calls=800)
    with pytest.raises(engine.LimitError, match="more than 800 calls.*max_calls_per_run of 800"):
        state.advance()
    state = start(NESTED, {"wf.n": 20, "wf.m": 40}, tmp_path, max_calls=800)
    assert len(state.advance()) == 800


def test_the_count_survives_saving_and_spans_batches_and_conditionals(tmp_path):
    doc = engine.load(SCATTERS)
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path), limits=engine.Limits(max_calls=12))
    state = run_to_end(doc, state, state.advance())
    assert state.done and state.calls == 12  # 1 before, 3 echo, 6 inner, 2 big
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path), limits=engine.Limits(max_calls=11))
    with pytest.raises(engine.LimitError, match="more than 11 calls"):
        calls = state.advance()
        while calls:
            state = engine.EngineState.loads(doc, state.dumps(), limits=engine.Limits(max_calls=11))
            calls = state.advance(echo_outputs(calls))


def test_subworkflow_calls_count_towards_the_runs_limit(tmp_path):
    doc = engine.load(SUBWORKFLOWS, imports=lib_zip())
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path), limits=engine.Limits(max_calls=12))
    state = run_to_end(doc, state, state.advance())
    assert state.done and state.calls == 12  # 4 subworkflow calls, 2 task calls in each
    state = engine.EngineState.start(doc, {}, run_dir=str(tmp_path), limits=engine.Limits(max_calls=9))
    with pytest.raises(engine.LimitError, match="max_calls_per_run of 9"):
        state.advance()


def test_a_scatter_over_an_input_array_wider_than_the_limit_fails_even_without_calls(tmp_path):
    state = start(NO_CALLS, {"wf.xs": list(range(1001))}, tmp_path, max_calls=1000)
    with pytest.raises(engine.LimitError) as failure:
        state.advance()
    assert "the scatter over x at main.wdl:4 has more than 1,000 shards" in str(failure.value)
    state = start(NO_CALLS, {"wf.xs": list(range(1000))}, tmp_path, max_calls=1000)
    state.advance()
    assert state.done and len(state.outputs["wf.ys"]) == 1000


def test_cross_over_the_limit_fails_before_making_its_pairs(tmp_path):
    with pytest.raises(engine.EvalError, match=r"cross\(\) would make 1,000,000 pairs.*max_calls_per_run"):
        start(CROSSED, {"wf.n": 1000}, tmp_path, max_calls=100_000).advance()
    state = start(CROSSED, {"wf.n": 300}, tmp_path, max_calls=100_000)
    state.advance()
    assert state.outputs == {"wf.count": 90_000}


def test_without_limits_the_engine_counts_but_never_refuses(tmp_path):
    state = start(WIDE, {"wf.n": 200}, tmp_path)
    assert len(state.advance()) == 200 and state.calls == 200


def test_a_state_over_the_size_limit_fails_to_save_naming_the_limit(tmp_path):
    state = start(WIDE, {"wf.n": 200}, tmp_path, max_state_bytes=20_000)
    state.advance()
    with pytest.raises(engine.LimitError) as failure:
        state.dumps()
    assert failure.value.limit == "max_engine_state_bytes"
    assert "over its team's limit max_engine_state_bytes of 20,000 bytes" in str(failure.value)
    assert len(start(WIDE, {"wf.n": 200}, tmp_path, max_state_bytes=2_000_000).dumps()) < 2_000_000


def test_a_state_saved_before_calls_were_counted_resumes_with_its_calls_counted(tmp_path):
    doc = engine.load(WIDE)
    state = engine.EngineState.start(doc, {"wf.n": 20}, run_dir=str(tmp_path))
    calls = state.advance()
    saved = pickle.loads(state.dumps())
    for machine in saved["machines"].values():  # as the previous release pickled them
        machine.__class__ = StateMachine
        machine.logger  # noqa: B018
    del saved["calls"]
    old = pickle.dumps(saved)
    resumed = engine.EngineState.loads(doc, old, limits=engine.Limits(max_calls=20))
    assert resumed.calls == 20
    assert resumed.advance() == []
    resumed = engine.EngineState.loads(doc, old, limits=engine.Limits(max_calls=20))
    resumed.advance([(c.id, {}) for c in calls])
    assert resumed.done


def spin():
    while True:
        pass


def test_a_step_over_its_time_budget_is_stopped_naming_the_budget():
    began = time.monotonic()
    with pytest.raises(engine.LimitError) as failure:
        engine.within_budget(spin, seconds=0.5, memory_bytes=2**30)
    assert time.monotonic() - began < 5  # spin() never returns by itself
    assert failure.value.limit == "BATCHSITE_STEP_SECONDS"
    assert "longer than the site's budget of 0.5 s" in str(failure.value)


def test_a_step_over_its_memory_budget_is_stopped_before_it_grows_much_further():
    held = []

    def grow():  # at most 1 MiB per millisecond, so that a busy machine's scheduling is not what is measured
        while True:
            held.append(bytearray(2**20))
            time.sleep(0.001)

    with pytest.raises(engine.LimitError) as failure:
        engine.within_budget(grow, seconds=60, memory_bytes=100 * 2**20)
    assert 100 <= len(held) < 400  # MiB allocated when it was stopped: well short of what it would have taken
    assert failure.value.limit == "BATCHSITE_STEP_MEMORY_BYTES"
    assert "more than the site's budget of 100 MiB" in str(failure.value)


def test_a_step_stops_soon_once_asked_and_a_finished_one_is_left_alone():
    asked = threading.Event()
    threading.Timer(0.5, asked.set).start()
    began = time.monotonic()
    with pytest.raises(engine.Interrupted):
        engine.within_budget(spin, seconds=60, memory_bytes=2**30, should_stop=asked.is_set, check_every=0.2)
    assert time.monotonic() - began < 5  # well before its 60 s budget
    assert engine.within_budget(lambda: 42, seconds=60, memory_bytes=2**30, should_stop=lambda: True,
                                check_every=0.01) == 42
    time.sleep(0.2)  # nothing is raised into this thread afterwards


RANGE_IN_TASK = """version 1.0
task t {
  input { Int n }
  Array[Int] xs = range(n)
  command <<< echo ~{length(xs)} >>>
}
"""


def test_a_tasks_range_over_the_limit_fails_its_preparation_before_building(tmp_path):
    doc = engine.load(RANGE_IN_TASK)
    with pytest.raises(engine.EvalError, match=r"range\(100000000000\) would have more than 1,000 items"):
        engine.within_budget(lambda: engine.prepare(doc, "t", {"n": 100_000_000_000}, work_dir=str(tmp_path),
                                                    max_items=1000), seconds=10, memory_bytes=500 * 2**20)
    prepared = engine.prepare(doc, "t", {"n": 1000}, work_dir=str(tmp_path), max_items=1000)
    assert prepared.command.strip() == "echo 1000"


def test_a_stop_that_something_swallows_is_raised_again():
    swallowed = []

    def step():
        try:
            spin()
        except BaseException as exc:  # as Python does with what a finalizer or a gc callback raises
            swallowed.append(exc)
        spin()

    began = time.monotonic()
    with pytest.raises(engine.LimitError, match="BATCHSITE_STEP_SECONDS"):
        engine.within_budget(step, seconds=0.3, memory_bytes=2**30)
    assert len(swallowed) == 1 and time.monotonic() - began < 10  # raised again after a second
