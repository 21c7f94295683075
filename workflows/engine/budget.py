"""A time and memory budget for one step of a run, and a way to stop a step early (an abort).

The step runs in the caller's thread; a watcher thread measures it and, when it must end, raises
an exception into it (CPython's PyThreadState_SetAsyncExc). That works in a Celery worker, in
run_wdl and in a test thread alike, where signals would work only in the main thread. Code that
runs for long inside one C call (one huge regular expression match) is stopped only when the call
returns: Celery's hard time limit on the task is the backstop for that.
"""
import ctypes
import logging
import os
import threading
import time
from typing import Callable, TypeVar

from .errors import LimitError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Interrupted(Exception):
    """A step stopped because its caller asked for it (the run is being aborted)."""


class _Stop(BaseException):
    """Raised into the stepping thread; a BaseException, so that no `except Exception` in miniwdl keeps it."""


def within_budget(step: Callable[[], T], *, seconds: float, memory_bytes: int,
                  should_stop: Callable[[], bool] | None = None, check_every: float = 1.0) -> T:
    """Return step(), run in this thread; raise LimitError once it takes longer than seconds or grows
    the process by more than memory_bytes, Interrupted once should_stop() (asked every check_every
    seconds from another thread) is true."""
    watcher = _Watcher(threading.get_ident(), seconds, memory_bytes, should_stop, check_every)
    watcher.start()
    try:
        try:
            return step()
        finally:
            watcher.finish()
    except _Stop:
        raise watcher.error from None


def resident_bytes() -> int | None:
    """Return this process's resident memory in bytes, or None where /proc does not tell."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    # None clears an exception that is still pending in that thread
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class _Watcher(threading.Thread):
    TICK = 0.05  # seconds between measurements: at 100 MB/s a step overshoots its memory by ~5 MB

    def __init__(self, target: int, seconds: float, memory_bytes: int, should_stop: Callable[[], bool] | None,
                 check_every: float) -> None:
        super().__init__(name="step-budget", daemon=True)
        self.target, self.seconds, self.memory_bytes = target, seconds, memory_bytes
        self.should_stop, self.check_every = should_stop, check_every
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._fired = False

    def run(self) -> None:
        start = time.monotonic()
        base = resident_bytes()
        next_check = start + self.check_every
        while not self._done.wait(self.TICK):
            now = time.monotonic()
            if now - start > self.seconds:
                self._fire(LimitError("BATCHSITE_STEP_SECONDS",
                                      f"stepping the run's workflow took longer than the site's budget of "
                                      f"{self.seconds:g} s (BATCHSITE_STEP_SECONDS)"))
                return
            rss = resident_bytes() if base is not None else None
            if rss is not None and rss - base > self.memory_bytes:
                self._fire(LimitError("BATCHSITE_STEP_MEMORY_BYTES",
                                      f"stepping the run's workflow needed more than the site's budget of "
                                      f"{self.memory_bytes / 2**20:,.0f} MiB of memory (BATCHSITE_STEP_MEMORY_BYTES)"))
                return
            if self.should_stop is not None and now >= next_check:
                next_check = now + self.check_every
                try:
                    stop = self.should_stop()
                except Exception:  # the step goes on; the next check may answer
                    log.warning("could not tell whether to stop a step", exc_info=True)
                    stop = False
                if stop:
                    self._fire(Interrupted("the step was stopped: the run is being aborted"))
                    return

    def _fire(self, error: Exception) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.error = error
            self._fired = True
            _raise_in(self.target, _Stop)

    def finish(self) -> None:
        """Stop watching; called from the stepping thread, after which nothing is raised into it."""
        with self._lock:
            self._done.set()
            if self._fired:
                _raise_in(self.target, None)
