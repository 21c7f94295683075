"""The rough edges a scientist met, each in Chromium against a live server, with a screenshot kept.

A retried run's duration and timeline leave out the pause; a finished run says how its calls
ended; names wrap at dots and underscores; an aborting run offers no second abort; a cleaned-up
run's log page says only that; the timeline page has the site's header; the upload form names the
WDL versions accepted; a run with 1,000 labels shows a few and the rest on request; a large run's
page stays readable.
"""
import contextlib
import datetime as dt
import re

import pytest
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from tests.browser import chromium_page, screenshot, watch_csp
from tests.runs import Eager, drive, engine_ticking, submit
from tests.test_ui_browser import log_in
from tests.workflows.test_ui_retry import FLAKY
from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from workflows.models import Call, Run

pytestmark = pytest.mark.browser

# Where a text's lines break, as Chromium laid it out: the two characters around each break.
LINE_BREAKS = """el => {
  const breaks = [], range = document.createRange(), walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let top = null, before = "";
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (let i = 0; i < node.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect || !node.data[i].trim()) continue;
      if (top !== null && rect.top > top + 2) breaks.push(before + "|" + node.data[i]);
      top = rect.top; before = node.data[i];
    }
  }
  return breaks;
}"""


@pytest.fixture
def browser(django_db_setup, live_server, alice, monkeypatch):
    """Return a context that opens Chromium with alice logged in, once the test's data is written.

    Playwright runs an event loop in this thread, inside which WDL cannot be loaded: write first.
    The context yields (page, base URL) and fails if any page broke the Content Security Policy.
    """
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    @contextlib.contextmanager
    def opened():
        with chromium_page() as page:
            try:
                page.set_default_timeout(30_000)
                page.on("dialog", lambda dialog: dialog.accept())
                refused = watch_csp(page)
                log_in(page, live_server.url, "alice", "pw-alice")
                yield page, live_server.url
                assert refused == []
            finally:
                connection.close()
    return opened


def test_a_retried_run_counts_its_working_time_and_draws_the_pause_compressed(browser, alice, project):
    with Eager():
        run = drive(submit(project, alice, FLAKY))
    assert run.status == Run.Status.FAILED
    # The scientist comes back three hours later and retries the failed shard.
    hours = dt.timedelta(hours=3)
    Run.objects.filter(pk=run.pk).update(submitted=F("submitted") - hours, started=F("started") - hours,
                                         ended=F("ended") - hours)
    Call.objects.filter(run=run).update(queued=F("queued") - hours, started=F("started") - hours,
                                        ended=F("ended") - hours)
    with browser() as (page, base):
        with engine_ticking():
            page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
            page.click("#retry")
            page.wait_for_selector("h1 .status-succeeded", timeout=60_000)
        run.refresh_from_db()
        assert len(run.pauses) == 1
        duration = page.inner_text("#duration")
        assert " h " not in duration.split("(")[0], duration  # the working time, not the three hours
        assert "paused 3 h 00 m" in duration and "retried" in duration, duration
        screenshot(page, "edge-retried-run")
        # The pause is one narrow break in the axis, named; the work either side of it is to scale.
        assert page.locator("#timeline .tl-axis .tl-break").count() == 1
        assert "3 h 00 m" in page.inner_text("#timeline .tl-axis-row")
        track = page.eval_on_selector("#timeline .tl-row:not(.tl-axis-row) .tl-track", "e => e.getBoundingClientRect()")
        bars = page.eval_on_selector_all("#timeline .tl-queued, #timeline .tl-run",
                                         "bars => bars.map(b => [b.getBoundingClientRect().left, b.getBoundingClientRect().right])")
        assert page.locator("#timeline .tl-run").count() == 4
        work = max(right for _, right in bars) - min(left for left, _ in bars)
        # The work fills much of the axis, not the sliver a 3-hour pause drawn to scale would leave it (on a
        # busy machine the run may end a while after its last call, so not all of it).
        assert work > 0.25 * track["width"], (bars, track)
        assert "not to scale" in page.inner_text("#timeline .tl-legend")
        page.goto(f"{base}{reverse('workflows:run_list', args=[run.team.slug])}")
        assert " h " not in page.inner_text("table.runs tbody tr td:nth-child(6)")
        screenshot(page, "edge-retried-run-list")


def test_a_finished_failed_run_says_how_many_succeeded_and_failed(browser, alice, project):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.FAILED)
    make_calls(run, 20)
    make_calls(run, 1, status=Call.Status.FAILED, fqn="hello.count")
    make_calls(run, 2, status=Call.Status.ABORTED, fqn="hello.tally")
    live = make_run(hello_workflow(project, alice, name="Live"), alice, status=Run.Status.RUNNING)
    make_calls(live, 3)
    make_calls(live, 1, status=Call.Status.RUNNING, fqn="hello.count")
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        progress = page.inner_text("#progress")
        assert "20 succeeded, 1 failed, 2 aborted" in progress and "done" not in progress, progress
        screenshot(page, "edge-failed-run-progress")
        page.goto(f"{base}{reverse('workflows:run_detail', args=[live.pk])}")
        assert "3 / 4 done" in page.inner_text("#progress")  # while it runs, how far it is


def test_names_wrap_at_dots_and_underscores_not_mid_word(browser, alice, project):
    key = "greetings_workflow.greetings_for_everyone_in_the_building"
    run = make_run(hello_workflow(project, alice), alice, inputs={key: "s3://genomics-results/greetings/2026/run-17/everyone.txt"})
    make_calls(run, 2, fqn="greetings_workflow.say_greetings_to_everyone_in_the_building_twice")
    with browser() as (page, base):
        page.set_viewport_size({"width": 760, "height": 900})
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        for selector in ("table.kv th", "table.kv td pre", "#call-table td:first-child"):
            breaks = page.eval_on_selector(selector, LINE_BREAKS)
            assert breaks, f"{selector} fits on one line: the test shows nothing"
            assert all(re.match(r"[._/=:-]\|", b) for b in breaks), (selector, breaks)
        screenshot(page, "edge-name-wrapping")


def test_an_aborting_run_shows_aborting_instead_of_an_abort_button(browser, alice, project):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.ABORTING)
    make_calls(run, 2, status=Call.Status.RUNNING)
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        assert page.locator("#abort").count() == 0
        assert page.inner_text("#run-actions #aborting") == "Aborting…"
        assert page.is_disabled("#aborting")
        screenshot(page, "edge-aborting-run")


def test_a_cleaned_up_runs_log_page_says_only_that_they_were_cleaned_up(browser, alice, project):
    run = make_run(hello_workflow(project, alice), alice)
    make_calls(run, 1)
    Run.objects.filter(pk=run.pk).update(cleaned_up=timezone.now(), cleaned_up_by=alice)
    call = run.calls.get()
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:call_log', args=[call.pk, 'stdout'])}")
        text = page.inner_text("main")
        assert "The run was cleaned up" in text and "logs were deleted" in text, text
        assert "whole log" not in text and "Nothing was written" not in text
        assert page.locator("#download").count() == 0 and page.locator("text=Download").count() == 0
        screenshot(page, "edge-cleaned-up-log")
        response = page.goto(f"{base}{reverse('workflows:call_log_download', args=[call.pk, 'stdout'])}")
        assert response.status == 410 and "cleaned up" in page.inner_text("body")


def test_the_timeline_page_has_the_site_header(browser, alice, project):
    run = make_run(hello_workflow(project, alice), alice)
    make_calls(run, 3)
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_timeline', args=[run.pk])}")
        assert page.locator("header.topbar .brand").inner_text() == "Batchsite"
        assert page.locator("header.topbar >> text=Log out").count() == 1
        assert page.locator(".tl-row .tl-run").count() == 3
        screenshot(page, "edge-timeline-page")


def test_the_upload_form_names_every_wdl_version_it_accepts(browser, team, project):
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:create', args=[team.slug, project.slug])}")
        help_text = page.inner_text("main")
        assert "draft-2" in help_text and "1.0" in help_text and "1.1" in help_text and "1.2" in help_text
        screenshot(page, "edge-upload-help")


def test_a_run_with_1000_labels_shows_a_few_and_the_rest_on_request(browser, alice, project):
    labels = {f"sample-{i:04d}": f"NA{12000 + i}" for i in range(1000)}
    run = make_run(hello_workflow(project, alice), alice, labels=labels)
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        chips = page.locator("#run-labels a.label")
        visible = sum(chips.nth(i).is_visible() for i in range(30))
        assert visible == 12, visible
        assert page.locator("#run-labels summary").inner_text() == "show all (1000)"
        screenshot(page, "edge-many-labels")
        page.click("#run-labels summary")
        page.wait_for_selector("#run-labels a.label:has-text('sample-0999=NA12999')")
        assert chips.count() == 1000 and chips.last.is_visible()
        page.goto(f"{base}{reverse('workflows:run_list', args=[run.team.slug])}")
        row = page.inner_text("table.runs tbody tr")
        assert "sample-0002" in row and "sample-0003" not in row and "+997 more" in row, row
        screenshot(page, "edge-many-labels-run-list")


def test_a_large_run_page_stays_readable(browser, alice, project):
    labels = {f"batch{i}": "x" * 40 for i in range(100)}
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.FAILED, labels=labels,
                   inputs={f"hello.input_{i}": [f"s3://bucket/path/to/sample_{j}.bam" for j in range(50)] for i in range(20)})
    make_calls(run, 5000)
    make_calls(run, 3, status=Call.Status.FAILED, fqn="hello.align_reads_with_a_long_task_name")
    for name in ("hello.sort", "hello.index", "hello.call_variants"):
        make_calls(run, 300, fqn=name)
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        assert page.locator("#call-table tr.call-row").count() == 100  # one page of attempts
        assert page.locator(".tl-row:not(.tl-axis-row)").count() == 5  # one row per call name
        assert "5900 succeeded, 3 failed" in page.inner_text("#progress")
        # Nothing is wider than the page.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        screenshot(page, "edge-large-run")


def test_a_run_aborted_elsewhere_turns_its_page_to_aborting(browser, alice, project):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    make_calls(run, 2, status=Call.Status.RUNNING)
    with browser() as (page, base):
        page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
        assert page.locator("#abort").count() == 1
        Run.objects.filter(pk=run.pk).update(status=Run.Status.ABORTING)  # from another tab, or the API
        page.wait_for_selector("#aborting", timeout=10_000)  # the live refresh reloads the page
        assert page.locator("#abort").count() == 0 and "Aborting" in page.inner_text("h1")
