"""The call tallies the database keeps: the run page's counts, cost, cache hits and timeline match the calls."""
import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from workflows.models import Call, CallTally, Run
from workflows.selectors import call_summary, run_cache_summary, run_timeline
from workflows.selectors.cost import run_cost
from workflows.services.tallies import call_tallies_compact
from workflows.tasks import call_tallies_compact_task


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


def scanned(run: Run) -> dict:
    """What a scan of the run's calls says: calls per name and status, cost, cache hits."""
    counts: dict = {}
    for fqn, status, n in Call.objects.filter(run=run).values_list("fqn", "status").annotate(n=Count("pk")):
        counts.setdefault(fqn, {})[status] = n
    cost = Call.objects.filter(run=run).aggregate(total=Sum("cost"))["total"] or Decimal(0)
    return {"counts": counts, "cost": cost, "hits": Call.objects.filter(run=run, cached_from__isnull=False).count()}


def tallied(run: Run) -> dict:
    """What the run page reads from the tally."""
    summary = call_summary(run=run)
    return {"counts": {g.fqn: {c.status: c.count for c in g.progress.counts} for g in summary.groups},
            "cost": run_cost(run=run), "hits": run_cache_summary(run=run).hits}


def test_the_tally_follows_inserts_updates_bulk_updates_and_deletes(workflow, alice):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    source = make_run(workflow, alice)
    make_calls(source, 1)
    make_calls(run, 30, status=Call.Status.QUEUED)
    make_calls(run, 5, status=Call.Status.SUCCEEDED, fqn="hello.other")
    calls = Call.objects.filter(run=run, fqn="hello.greet")
    assert tallied(run) == scanned(run)

    calls.filter(shard_index__lt=10).update(status=Call.Status.SUBMITTING)  # a dispatch claims a batch
    for call in calls.filter(status=Call.Status.SUBMITTING)[:4]:  # and records handles one by one
        Call.objects.filter(pk=call.pk).update(status=Call.Status.RUNNING, started=timezone.now())
    calls.filter(status=Call.Status.RUNNING).update(status=Call.Status.SUCCEEDED, ended=timezone.now(),
                                                     cost=Decimal("0.25"))
    calls.filter(shard_index__gte=20).update(status=Call.Status.ABORTED)
    calls.filter(shard_index__gte=25).update(status=Call.Status.QUEUED, ended=None)  # a retry requeues
    calls.update(fed=True)  # nothing the tally holds: no row
    hit = calls.get(shard_index=12)
    hit.status, hit.cached_from = Call.Status.SUCCEEDED, source.calls.get()
    hit.save()
    calls.filter(shard_index=29).delete()
    assert tallied(run) == scanned(run) == {
        "counts": {"hello.greet": {"succeeded": 5, "submitting": 6, "queued": 13, "aborted": 5},
                   "hello.other": {"succeeded": 5}},
        "cost": Decimal("1.000000"), "hits": 1}
    expected = source.calls.get()
    assert run_cache_summary(run=run).saved == dt.timedelta(
        seconds=round((expected.ended - expected.started).total_seconds(), 3))

    rows = CallTally.objects.filter(run=run).count()
    call_tallies_compact_task()  # a run with few fresh rows is left as it is
    assert CallTally.objects.filter(run=run).count() == rows
    assert call_tallies_compact(at=1) == 2
    assert call_tallies_compact(at=1) == 0  # again: nothing fresh, nothing done
    assert CallTally.objects.filter(run=run).count() == 5  # one row per name and status in use
    assert tallied(run) == scanned(run)

    run.delete()
    assert not CallTally.objects.filter(run_id=run.pk).exists()


def test_the_grouped_timeline_comes_from_the_tally_as_from_the_calls(workflow, alice):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 250)
    make_calls(run, 3, status=Call.Status.RUNNING, fqn="hello.late")
    timeline = run_timeline(run=run)
    assert timeline.grouped and timeline.attempts == 253
    assert [(b.label, b.status) for b in timeline.bars] == [("hello.greet ×250", "succeeded"),
                                                           ("hello.late ×3", "running")]
    assert timeline.start == min(run.submitted, Call.objects.filter(run=run).order_by("queued").first().queued)
    assert timeline.bars[0].run_width > 0 and timeline.bars[1].run_width > 0


def test_deep_pages_and_filters_of_the_call_table_count_from_the_tally(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 250)
    Call.objects.filter(run=run, shard_index__gte=240).update(status=Call.Status.FAILED)
    client.force_login(alice)
    url = reverse("workflows:run_detail", args=[run.pk])
    last = client.get(url + "?page=3").context["calls"]
    assert (last.number, last.paginator.num_pages, last.paginator.count) == (3, 3, 250)
    assert [c.shard_index for c in last.object_list] == list(range(200, 250))
    failed = client.get(url + "?status=failed")
    assert [c.shard_index for c in failed.context["calls"].object_list] == list(range(240, 250))
    assert failed.context["calls"].paginator.count == 10 and failed.context["summary"].progress.done == 240
    assert failed.content.decode().count('class="call-row"') == 10


@pytest.mark.django_db(transaction=True)
def test_compaction_keeps_what_another_transaction_commits_while_it_runs(alice, team, project):
    workflow = hello_workflow(project, alice)
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 40, status=Call.Status.RUNNING)
    for pk in Call.objects.filter(run=run).values_list("pk", flat=True)[:30]:
        Call.objects.filter(pk=pk).update(status=Call.Status.SUCCEEDED)
    updated, go_on = threading.Event(), threading.Event()

    def finish_the_rest():
        try:
            with transaction.atomic():
                Call.objects.filter(run=run, status=Call.Status.RUNNING).update(status=Call.Status.FAILED)
                updated.set()
                go_on.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=finish_the_rest)
    worker.start()
    assert updated.wait(10)
    assert call_tallies_compact(at=2) == 1  # while the other transaction holds its uncommitted rows
    go_on.set()
    worker.join()
    assert tallied(run) == scanned(run) == {"counts": {"hello.greet": {"succeeded": 30, "failed": 10}},
                                            "cost": Decimal(0), "hits": 0}
    call_tallies_compact(at=1)
    assert tallied(run) == scanned(run)
