"""Celery tasks: thin, named, safe to repeat; the work is in workflows.services.

Each is <service>_task and calls that service; the Celery names (workflows.*) stay as they were, so
messages already queued keep working.
"""
from celery import shared_task
from django.conf import settings

from workflows.backends import TransientBackendError

RETRYING = dict(acks_late=True, ignore_result=True, autoretry_for=(TransientBackendError,),
                retry_backoff=True, retry_backoff_max=60, max_retries=8)


# Backstops to the step's own budget (run_advance fails the run when the soft limit strikes): the hard
# limit kills a worker child stuck in one C call, which the budget cannot interrupt (the run fails
# after MAX_KILLED_STEPS such kills).
@shared_task(name="workflows.advance_run", soft_time_limit=settings.BATCHSITE_STEP_SECONDS + 60,
             time_limit=settings.BATCHSITE_STEP_SECONDS + 120, **RETRYING)
def run_advance_task(run_id: str) -> None:
    from workflows.services import run_advance

    run_advance(run_id=run_id)


@shared_task(name="workflows.dispatch_team", **RETRYING)
def team_dispatch_task(team_id: int) -> None:
    from workflows.services import team_dispatch

    team_dispatch(team_id=team_id)


@shared_task(name="workflows.abort_run", **RETRYING)
def run_abort_finish_task(run_id: str) -> None:
    from workflows.services import run_abort_finish

    run_abort_finish(run_id=run_id)


@shared_task(name="workflows.poll_backend", acks_late=True, ignore_result=True, expires=60)
def backend_poll_task(name: str, token: str = "") -> None:
    from workflows.services import backend_poll

    backend_poll(name=name, token=token)


@shared_task(name="workflows.recover_claims", **RETRYING)
def claims_recover_task(name: str) -> None:
    from workflows.services.polling import claims_recover

    claims_recover(name=name)


@shared_task(name="workflows.tick", acks_late=True, ignore_result=True, expires=30)
def tick_task() -> None:
    from workflows.services import tick

    tick()


@shared_task(name="workflows.cleanup_old_scripts", acks_late=True, ignore_result=True)
def cleanup_old_scripts_task() -> None:
    from workflows.services.retention import cleanup_old_scripts

    cleanup_old_scripts()


@shared_task(name="workflows.reconcile_orphans", acks_late=True, ignore_result=True, expires=300)
def orphans_reconcile_task() -> None:
    from workflows.services.retention import orphans_reconcile

    orphans_reconcile()


@shared_task(name="workflows.compact_call_tallies", acks_late=True, ignore_result=True, expires=30)
def call_tallies_compact_task() -> None:
    from workflows.services.tallies import call_tallies_compact

    call_tallies_compact()
