"""The Celery app; the beat schedule lives in settings (CELERY_BEAT_SCHEDULE)."""
import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchsite.settings")

app = Celery("batchsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connections_check(task=None, **_) -> None:
    """Close a database connection a task left broken or that outlived CONN_MAX_AGE (as after a request)."""
    from django.db import close_old_connections

    if task is None or not getattr(task.request, "is_eager", False):  # an eager task shares its caller's
        close_old_connections()


@worker_init.connect
def _pool_prepare(**_) -> None:
    """Build the WDL parsers in the worker's main process, which its pool processes fork from, then
    keep everything made so far out of garbage collection: the pool processes then neither traverse
    it in every full collection nor copy the pages that would touch."""
    from workflows.engine import parsers_build

    parsers_build()
    gc.freeze()
