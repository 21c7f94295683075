"""The web UI in Chromium against a live server, with the engine ticking in a background thread.

As alice: upload a WDL, launch it from the generated form, watch the call table fill, follow a
live log, abort a second run and relaunch it, clean up the first run after a preview. As bob (a
viewer): no action buttons, and 403 on a forged POST. As carol: 404 on every page of alice's team.
Screenshots are kept under var/screenshots/ (or $BATCHSITE_SCREENSHOTS) for review.
"""
import contextlib
import os
import re

import pytest
from django.db import connection
from django.urls import reverse

from tests.browser import SCREENSHOTS, chromium_page, screenshot, watch_csp
from tests.runs import engine_ticking
from workflows.models import Call, Run, Script

SLOW = """version 1.0
workflow slow {
  input {
    Int shards = 3
    Int seconds = 1
    String who = "world"
  }
  scatter (i in range(shards)) {
    call work { input: i = i, seconds = seconds, who = who }
  }
  output { Array[String] out = work.out }
}
task work {
  input {
    Int i
    Int seconds
    String who
  }
  command <<<
    echo "shard ~{i} says hello to ~{who}"
    sleep ~{seconds}
    echo "shard ~{i} done"
  >>>
  output { String out = read_lines(stdout())[1] }
}
"""


@contextlib.contextmanager
def own_connection_closed():
    """Close the database connection the ORM opens under Playwright's sync API (a context of its own)."""
    try:
        yield
    finally:
        connection.close()


def log_in(page, base: str, username: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    page.wait_for_selector("h1:has-text('Your teams')")


def files_under(path: str) -> int:
    return sum(len(names) for _, _, names in os.walk(path))


def stop_everything() -> None:
    from workflows.services import run_abort, run_abort_finish

    for run in Run.objects.exclude(status__in=Run.TERMINAL):
        run_abort(run=run)
        run_abort_finish(run_id=run.pk)


@pytest.mark.browser
def test_alice_runs_watches_aborts_relaunches_and_cleans_up_bob_looks_carol_is_kept_out(
        django_db_setup, live_server, alice, bob, carol, team, other_team, project, tmp_path, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = live_server.url
    wdl = tmp_path / "slow.wdl"
    wdl.write_text(SLOW)
    try:
        with engine_ticking(), chromium_page() as page, own_connection_closed():
            page.set_default_timeout(30_000)
            page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of actions
            refused = watch_csp(page)

            # ---- alice uploads a WDL and launches it from the generated form
            log_in(page, base, "alice", "pw-alice")
            page.click("#team-genomics >> text=New workflow")
            page.fill("input[name=name]", "Slow hello")
            page.set_input_files("input[name=source]", str(wdl))
            page.click("main button[type=submit]")
            page.wait_for_selector("h1:has-text('Slow hello')")
            assert "teams/genomics/" in page.inner_text(".facts")  # the resolved prefix and role
            page.click("#launch")
            assert page.input_value('[name="slow.who"]') == "world"  # the default, pre-filled
            assert page.input_value('[name="slow.shards"]') == "3"
            screenshot(page, "launch-form")
            page.fill('[name="slow.seconds"]', "1.5")  # the browser lets no letters in
            page.click("#submit-run")
            assert "an Int is a whole number" in page.inner_text(".field.has-error")
            page.fill('[name="slow.seconds"]', "4")
            page.fill('[name="slow.who"]', "playwright")
            page.fill('[name="labels"]', "sample=NA12878")
            page.click("#submit-run")
            page.wait_for_selector("text=submitted.")
            first_url = page.url
            first = Run.objects.get()

            # ---- the call table fills while the run runs (htmx refreshes it)
            # A function, not an expression: Playwright evaluates an expression with eval, which the CSP refuses.
            page.wait_for_function("() => document.querySelectorAll('#call-table tr.call-row').length === 3")
            page.wait_for_selector("#call-table tr.call-row[data-status=running]")
            assert "sample=NA12878" in page.inner_text("main")
            screenshot(page, "run-running")

            # ---- a live log shows what the task printed, then what it prints next
            page.click("#call-table tr.call-row[data-status=running] >> text=stdout")
            page.wait_for_selector("#log-text:has-text('says hello to playwright')")
            page.wait_for_selector("#log-text:has-text('done')", timeout=30_000)
            page.wait_for_selector("#log-ended")
            screenshot(page, "live-log")

            # ---- the run ends: the page reloads with its final state and outputs
            page.goto(first_url)
            page.wait_for_selector("h1 .status-succeeded", timeout=60_000)
            assert "3 succeeded" in page.inner_text("#progress")
            assert "shard 2 done" in page.inner_text("main")
            assert page.locator(".tl-row .bar-succeeded").count() == 3
            screenshot(page, "run-succeeded")

            # ---- a second run is aborted while it runs, then relaunched
            page.goto(f"{base}{reverse('workflows:launch', args=[first.version.workflow_id])}")
            page.fill('[name="slow.seconds"]', "120")
            page.click("#submit-run")
            page.wait_for_selector("#call-table tr.call-row[data-status=running]")
            second = Run.objects.exclude(pk=first.pk).get()
            page.click("#abort")
            page.wait_for_selector("h1 .status-aborted", timeout=30_000)
            assert set(second.calls.values_list("status", flat=True)) == {Call.Status.ABORTED}
            screenshot(page, "run-aborted")
            page.click("#relaunch")
            page.wait_for_selector("text=Relaunched as run")
            third = Run.objects.get(relaunch_of=second)
            assert third.inputs == second.inputs
            page.wait_for_selector("#call-table tr.call-row")
            page.click("#abort")
            page.wait_for_selector("h1 .status-aborted", timeout=30_000)

            # ---- the first run is cleaned up after a preview
            scripts = Script.objects.filter(run=first).count()
            files = files_under(first.root)
            assert scripts == 3 and files > 0
            page.goto(first_url)
            page.click("#cleanup")
            assert page.inner_text("#plan-scripts").startswith(f"{scripts} objects")
            assert page.inner_text("#plan-files").startswith(f"{files} files")
            assert page.inner_text("#plan-total").startswith(f"{scripts + files} objects")
            screenshot(page, "cleanup-preview")
            page.click("#cleanup-confirm")
            page.wait_for_selector(f"text=Cleaned up: deleted {scripts} scripts and {files} files")
            assert not os.path.exists(first.root) and not Script.objects.filter(run=first).exists()

            page.goto(f"{base}{reverse('workflows:detail', args=[first.version.workflow_id])}")
            screenshot(page, "workflow")

            # ---- the dashboard's strip and the run list show the team at a glance
            page.goto(base)
            assert "running 0 / cap 8, queued 0" in page.inner_text("#slots-genomics")
            screenshot(page, "dashboard")
            page.goto(f"{base}{reverse('workflows:run_list', args=[team.slug])}")
            assert page.locator("table.runs tbody tr").count() == 3
            page.select_option("select[name=status]", "Aborted")
            page.click("#run-filters button[type=submit]")
            page.wait_for_url("**status=Aborted**")
            assert page.locator("table.runs tbody tr").count() == 2
            screenshot(page, "run-list")

            # ---- bob, a viewer, sees everything and can do nothing
            log_in(page, base, "bob", "pw-bob")
            page.goto(first_url)
            page.wait_for_selector("h1 .status-succeeded")
            assert page.locator("#run-actions").count() == 0 and page.locator("#launch").count() == 0
            token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
            forged = page.evaluate(
                "async ([url, token]) => (await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token}})).status",
                [reverse("workflows:run_relaunch", args=[first.pk]), token])
            assert forged == 403
            assert Run.objects.count() == 3
            screenshot(page, "bob-viewer")

            # ---- carol, in another team, finds nothing of alice's
            log_in(page, base, "carol", "pw-carol")
            assert "Genomics" not in page.inner_text("main")
            call = first.calls.first()
            for url in [
                reverse("workflows:run_list", args=[team.slug]), reverse("teams:slots", args=[team.slug]),
                reverse("workflows:detail", args=[first.version.workflow_id]),
                reverse("workflows:launch", args=[first.version.workflow_id]),
                reverse("workflows:create", args=[team.slug, project.slug]),
                *(reverse(f"workflows:run_{name}", args=[first.pk]) for name in ("detail", "live", "timeline", "cleanup")),
                *(reverse(f"workflows:call_log{suffix}", args=[call.pk, "stdout"]) for suffix in ("", "_tail", "_download")),
            ]:
                assert page.goto(f"{base}{url}").status == 404, url
            assert "Traceback" not in page.content()
            screenshot(page, "carol-404")
            assert refused == []  # every page above, and every htmx refresh, kept the CSP
    finally:
        stop_everything()
    assert (SCREENSHOTS / "carol-404.png").stat().st_size > 0
    assert re.search(r"/runs/[0-9a-f-]{36}/$", first_url)


@pytest.mark.browser
def test_the_main_pages_keep_the_content_security_policy_and_still_draw_their_bars(
        django_db_setup, live_server, alice, operator, team, project, monkeypatch):
    from django_celery_beat.models import CrontabSchedule

    from tests.workflows.ui_factories import hello_workflow, make_calls, make_run

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    base = live_server.url
    crontab = CrontabSchedule.objects.create(minute="30", hour="3")
    workflow = hello_workflow(project, alice)
    done = make_run(workflow, alice)
    make_calls(done, 3)
    live = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(live, 2, status=Call.Status.RUNNING)
    make_calls(live, 2, status=Call.Status.SUCCEEDED, fqn="hello.other")
    call = done.calls.order_by("pk").first()
    pages = [
        reverse("teams:dashboard"), reverse("workflows:run_list", args=[team.slug]),
        reverse("workflows:detail", args=[workflow.pk]), reverse("workflows:launch", args=[workflow.pk]),
        reverse("workflows:run_detail", args=[done.pk]), reverse("workflows:run_timeline", args=[done.pk]),
        reverse("workflows:run_cleanup", args=[done.pk]), reverse("workflows:call_log", args=[call.pk, "stdout"]),
        reverse("teams:audit", args=[team.slug]), reverse("tokens"), f"/api/workflows/v1/{done.pk}/timing",
    ]
    with chromium_page() as page, own_connection_closed():
        page.set_default_timeout(30_000)
        refused = watch_csp(page)
        page.goto(f"{base}/accounts/login/")
        log_in(page, base, "alice", "pw-alice")
        for url in pages:
            assert page.goto(f"{base}{url}").status == 200, url
            page.wait_for_load_state("networkidle")
        # A bar is drawn from its data-width by the static script, not by a style="" the CSP refuses.
        page.goto(f"{base}{reverse('workflows:run_detail', args=[done.pk])}")
        page.wait_for_function("() => document.querySelector('#progress .progress > span').style.width === '100%'")
        assert page.eval_on_selector("#progress .progress > span", "e => e.getBoundingClientRect().width") > 100
        assert page.locator(".tl-row .tl-run[style*='width']").count() == 3
        # The live part of an active run is swapped in by htmx every 2 s, and is sized again.
        page.goto(f"{base}{reverse('workflows:run_detail', args=[live.pk])}")
        page.evaluate("window.swapped = 0; document.addEventListener('htmx:afterSwap', () => window.swapped++)")
        page.wait_for_function("() => window.swapped >= 1", timeout=10_000)
        assert page.eval_on_selector("#progress .progress > span", "e => e.style.width") == "50%"
        # The admin, including django-celery-beat's form whose inline script was moved to a file.
        log_in_admin = [reverse("admin:index"), reverse("admin:django_celery_beat_periodictask_add")]
        page.context.clear_cookies()
        page.goto(f"{base}/admin/login/")
        page.fill("input[name=username]", "operator")
        page.fill("input[name=password]", "pw-operator")
        page.click("input[type=submit]")
        for url in log_in_admin:
            assert page.goto(f"{base}{url}").status == 200, url
            page.wait_for_load_state("networkidle")
        assert page.locator(".field-crontab_translation").count() == 1
        assert page.locator(".field-crontab_translation").is_hidden()
        page.select_option("#id_crontab", str(crontab.pk))
        page.wait_for_selector(".field-crontab .help:has-text('Translation: ')")
        assert crontab.human_readable in page.inner_text(".field-crontab .help")
    assert refused == []
