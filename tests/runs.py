"""Submit runs and drive them in this process, as run_wdl does."""
import contextlib
import threading
import time
import traceback

from django.db import connection

from batchsite.celery import app as celery_app
from workflows.models import Run
from workflows.services import run_submit, tick, workflow_create


def submit(project, user, wdl: str, inputs: dict | None = None, options: dict | None = None,
           name: str = "wf") -> Run:
    """Create a workflow from WDL text in the project and submit one run of it."""
    workflow = workflow_create(project=project, name=name, source=wdl.encode(), user=user)
    return run_submit(version=workflow.versions.get(), user=user, inputs=inputs or {}, options=options or {})


def drive(run: Run, *, until=lambda run: not run.is_active, timeout: float = 60, interval: float = 0.02) -> Run:
    """Tick until the condition holds for the run; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        tick()
        run.refresh_from_db()
        if until(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.pk} still {run.status} after {timeout} s")
        time.sleep(interval)


class Eager:
    """Run Celery tasks in place while the block runs (the test process is the worker)."""

    def __enter__(self):
        self.before = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True

    def __exit__(self, *exc):
        celery_app.conf.task_always_eager = self.before


@contextlib.contextmanager
def engine_ticking(interval: float = 0.1):
    """Tick in a background thread with tasks run in place, for tests against a live server."""
    stop, errors = threading.Event(), []

    def loop():
        try:
            while not stop.is_set():
                try:
                    tick()
                except Exception:  # reported when the block ends: a failing engine fails the test
                    errors.append(traceback.format_exc())
                stop.wait(interval)
        finally:
            connection.close()

    thread = threading.Thread(target=loop, name="engine", daemon=True)
    with Eager():
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)
    assert not errors, errors[0]
