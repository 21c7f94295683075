"""`celery` with each task of each pool process under cProfile, for `local_scatter.py --profile`.

    python bench/profiled_celery.py OUT_DIR -A batchsite worker ...

Every pool process writes OUT_DIR/<pid>.prof (pstats) and OUT_DIR/<pid>.tasks (one line per task:
name and wall seconds) when it ends; nothing of the product changes.
"""
import atexit
import cProfile
import os
import sys
import time
from pathlib import Path

OUT = Path(sys.argv.pop(1))
_state: dict = {}


def _start(**_) -> None:
    _state.update(profile=cProfile.Profile(), tasks=[], started=None)
    atexit.register(_dump)


def _before(task=None, **_) -> None:
    if "profile" in _state:
        _state["started"] = time.perf_counter()
        _state["profile"].enable()


def _after(task=None, **_) -> None:
    if "profile" in _state and _state["started"] is not None:
        _state["profile"].disable()
        _state["tasks"].append((task.name, time.perf_counter() - _state["started"]))
        _state["started"] = None


def _dump(**_) -> None:
    if "profile" not in _state:
        return
    profile, tasks = _state.pop("profile"), _state.pop("tasks")
    profile.dump_stats(OUT / f"{os.getpid()}.prof")
    (OUT / f"{os.getpid()}.tasks").write_text("".join(f"{name} {seconds:.6f}\n" for name, seconds in tasks))


if __name__ == "__main__":
    from celery import signals
    from celery.__main__ import main

    signals.worker_process_init.connect(_start, weak=False)
    signals.task_prerun.connect(_before, weak=False)
    signals.task_postrun.connect(_after, weak=False)
    signals.worker_process_shutdown.connect(_dump, weak=False)
    sys.argv[0] = "celery"
    sys.exit(main())
