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
    watcher = _Watcher(threading.current_thread(), seconds, memory_bytes, should_stop, check_every)
    watcher.start()
    try:
        result = step()
    except _Stop:
        watcher.caught = True  # first, and no call: from here on the watcher raises nothing again
        _stop_watching(watcher)
        raise watcher.error from None
    except BaseException:
        watcher.caught = True
        _stop_watching(watcher)
        raise
    watcher.caught = True
    _stop_watching(watcher)  # a stop that arrives now, after the step's work is done, is not acted on
    return result


def _stop_watching(watcher: "_Watcher") -> None:
    # The watcher may raise into this thread once more until finish() has run.
    while True:
        try:
            watcher.finish()
            return
        except _Stop:
            continue


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
    # An exception raised while a finalizer or a weakref or gc callback runs is printed and dropped:
    # raise it again until within_budget() has caught it.
    AGAIN = 1.0

    def __init__(self, target: threading.Thread, seconds: float, memory_bytes: int, should_stop: Callable[[], bool] | None,
                 check_every: float) -> None:
        super().__init__(name="step-budget", daemon=True)
        self.target, self.seconds, self.memory_bytes = target, seconds, memory_bytes
        self.should_stop, self.check_every = should_stop, check_every
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._fired = 0.0  # when _Stop was last raised into the step
        self.caught = False  # within_budget() has the step's outcome

    def run(self) -> None:
        start = time.monotonic()
        base = resident_bytes()
        self._next_check = start + self.check_every
        while not self._done.wait(self.TICK):
            now = time.monotonic()
            if self.error is None:
                self.error = self._over(now - start, base, now)
                if self.error is not None:
                    self._fire(now)
            elif not self.caught and now - self._fired > self.AGAIN:
                self._fire(now)

    def _over(self, elapsed: float, base: int | None, now: float) -> Exception | None:
        if elapsed > self.seconds:
            return LimitError("BATCHSITE_STEP_SECONDS", f"stepping the run's workflow took longer than the site's "
                                                        f"budget of {self.seconds:g} s (BATCHSITE_STEP_SECONDS)")
        rss = resident_bytes() if base is not None else None
        if rss is not None and rss - base > self.memory_bytes:
            return LimitError("BATCHSITE_STEP_MEMORY_BYTES",
                              f"stepping the run's workflow needed more than the site's budget of "
                              f"{self.memory_bytes / 2**20:,.0f} MiB of memory (BATCHSITE_STEP_MEMORY_BYTES)")
        if self.should_stop is not None and now >= self._next_check:
            self._next_check = now + self.check_every
            try:
                if self.should_stop():
                    return Interrupted("the step was stopped: the run is being aborted")
            except Exception:  # the step goes on; the next check may answer
                log.warning("could not tell whether to stop a step", exc_info=True)
        return None

    def _fire(self, now: float) -> None:
        with self._lock:
            # A thread that ended may have passed its id on to a new one: never raise into that.
            if self._done.is_set() or not self.target.is_alive():
                self._done.set()
                return
            self._fired = now
            _raise_in(self.target.ident, _Stop)

    def finish(self) -> None:
        """Stop watching; called from the stepping thread, after which nothing is raised into it."""
        with self._lock:
            self._done.set()
            if self._fired:
                _raise_in(self.target.ident, None)
