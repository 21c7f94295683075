"""A live Batchsite for client tests: the engine ticking in a background thread of the test process."""
import contextlib
import threading
import time

from django.db import connections

from batchsite.celery import app as celery_app
from workflows.services import tick


class Engine:
    """Call workflows.services.tick() every interval seconds with Celery tasks run in place."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._loop, name="batchsite-engine", daemon=True)

    def _loop(self):
        try:
            while not self.stopping.is_set():
                try:
                    tick()
                except Exception as exc:  # kept and raised by the test, not lost in a thread
                    self.errors.append(exc)
                self.stopping.wait(self.interval)
        finally:
            connections.close_all()

    @contextlib.contextmanager
    def running(self):
        before = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        self.thread.start()
        try:
            yield self
        finally:
            self.stopping.set()
            self.thread.join(timeout=30)
            celery_app.conf.task_always_eager = before
        if self.errors:
            raise self.errors[0]


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    """Return predicate()'s first true value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s")
