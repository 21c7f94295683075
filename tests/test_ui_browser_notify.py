"""Sample sheets and notifications in Chromium against a live server, the engine ticking in a thread.

A 3-row sheet launches 3 labelled runs and its batch page follows them; a sheet with one bad row is refused
before anything is submitted. After a run ends, alice's email reaches a local SMTP server and her team's
webhook reaches a local receiver that checks its signature. Screenshots of each new page are kept.
"""
import pytest
from django.urls import reverse

from notifications.models import WebhookDelivery
from tests.browser import chromium_page, screenshot, watch_csp
from tests.notifications.receivers import smtp_server, webhook_receiver
from tests.runs import engine_ticking
from tests.test_ui_browser import log_in, own_connection_closed, stop_everything
from tests.workers import wait_until
from workflows.models import Run
from workflows.services import workflow_create

GREET = """version 1.0
workflow greet {
  input {
    String name
    Int times = 1
  }
  call say { input: name = name, times = times }
  output { String out = say.out }
}
task say {
  input {
    String name
    Int times
  }
  command <<< for i in $(seq ~{times}); do echo "hello ~{name}"; done >>>
  output { String out = read_lines(stdout())[0] }
}
"""


@pytest.fixture
def browser_env(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.mark.browser
def test_a_sample_sheet_launches_three_labelled_runs_and_a_bad_row_refuses_its_sheet(
        django_db_setup, live_server, browser_env, alice, team, project, tmp_path):
    workflow = workflow_create(project=project, name="Greet", source=GREET.encode(), filename="greet.wdl", user=alice)
    sheet = tmp_path / "samples.csv"
    sheet.write_text("sample,name,times\nNA12878,ann,1\nNA12891,bo,2\nNA12892,cy,3\n")
    base = live_server.url
    try:
        with engine_ticking(), chromium_page() as page, own_connection_closed():
            page.set_default_timeout(30_000)
            refused = watch_csp(page)
            log_in(page, base, "alice", "pw-alice")
            page.goto(f"{base}{reverse('workflows:launch', args=[workflow.pk])}")
            page.click("#sheet-link a")
            page.set_input_files("input[name=sheet_file]", str(sheet))
            page.click("#preview-sheet")
            page.wait_for_selector("#sheet-preview")
            assert page.locator("#sheet-rows tr.row-ok").count() == 3
            assert "greet.times" in page.inner_text("#sheet-columns")
            assert Run.objects.count() == 0  # a preview submits nothing
            screenshot(page, "sample-sheet-preview")

            page.click("#launch-sheet")
            page.wait_for_selector("text=3 runs of Greet v1 submitted.")
            assert page.locator("tr.batch-row").count() == 3
            screenshot(page, "batch-running")
            # htmx refreshes the rows until every run has ended
            page.wait_for_function("() => document.querySelectorAll('tr.batch-row[data-status=succeeded]').length === 3",
                                   timeout=90_000)
            assert page.locator("#batch-rows[hx-get]").count() == 0  # no more refreshing
            screenshot(page, "batch-done")
            runs = {run.labels["sample"]: run for run in Run.objects.all()}
            assert sorted(runs) == ["NA12878", "NA12891", "NA12892"]
            assert runs["NA12891"].outputs == {"greet.out": "hello bo"}
            assert runs["NA12892"].inputs == {"greet.name": "cy", "greet.times": 3}

            # ---- a sheet with one bad row is refused as a whole, naming row and column
            page.goto(f"{base}{reverse('workflows:sheet_launch', args=[workflow.pk])}")
            page.fill("textarea[name=sheet_text]", "sample\tname\ttimes\nS1\tdee\t1\nS2\teve\tmany\nS3\tfay\t2\n")
            page.click("#preview-sheet")
            page.wait_for_selector("#sheet-problems")
            assert "row 2, column 'times': an Int is a whole number" in page.inner_text("#sheet-problems")
            assert page.locator("#launch-sheet").count() == 0
            assert page.locator("#sheet-rows tr.row-bad").count() == 1
            screenshot(page, "sample-sheet-refused")
            assert Run.objects.count() == 3
            assert not refused, refused
    finally:
        stop_everything()


@pytest.mark.browser
def test_a_run_end_reaches_alices_inbox_and_her_teams_webhook_signed(
        django_db_setup, live_server, browser_env, alice, operator, team, project, settings):
    settings.BATCHSITE_WEBHOOK_ALLOW_PRIVATE = True  # the receiver is on loopback
    workflow = workflow_create(project=project, name="Greet", source=GREET.encode(), filename="greet.wdl", user=alice)
    base = live_server.url
    try:
        with smtp_server(settings) as inbox, webhook_receiver() as receiver, engine_ticking(), chromium_page() as page, \
                own_connection_closed():
            page.set_default_timeout(30_000)
            page.on("dialog", lambda dialog: dialog.accept())
            refused = watch_csp(page)
            log_in(page, base, "alice", "pw-alice")

            # ---- alice opts in to email
            page.click("header nav >> text=Notifications")
            page.fill("input[name=email]", "alice@example.org")
            page.check("input[name=runs_ended]")
            screenshot(page, "notification-preferences")
            page.click("#save-preferences")
            page.wait_for_selector("text=Your notification settings are saved.")

            # ---- and, as her team's admin, adds a webhook; its secret is shown once
            page.goto(f"{base}/")
            page.click("#team-genomics >> text=Webhooks")
            page.fill("input[name=url]", receiver.url)
            page.click("#add-webhook")
            receiver.secret = page.inner_text("#webhook-secret")
            assert len(receiver.secret) >= 40
            screenshot(page, "webhooks-secret")

            # ---- a run ends
            page.goto(f"{base}{reverse('workflows:launch', args=[workflow.pk])}")
            page.fill('[name="greet.name"]', "notified")
            page.click("#submit-run")
            page.wait_for_selector("h1 .status-succeeded", timeout=60_000)
            run = Run.objects.get()
            wait_until(lambda: inbox and receiver.received, timeout=30, message="the email and the webhook")
            recipients, message = inbox[0]
            assert recipients == ["alice@example.org"] and "Succeeded" in message["Subject"]
            assert f"{run.pk}" in message.get_payload()
            assert len(receiver.received) == 1 and receiver.received[0].signed
            assert receiver.received[0].json["run"]["id"] == str(run.pk)

            page.goto(f"{base}{reverse('webhooks', args=['genomics'])}")
            assert "delivered 200" in page.inner_text("#webhooks")
            assert receiver.secret not in page.content()
            screenshot(page, "webhooks-delivered")

            # ---- the operator reads the delivery log in the admin
            log_in(page, base, "operator", "pw-operator")
            page.goto(f"{base}{reverse('admin:notifications_webhookdelivery_changelist')}")
            assert "Delivered" in page.inner_text("#result_list")
            screenshot(page, "admin-webhook-deliveries")
            assert WebhookDelivery.objects.get().status_code == 200
            assert len(inbox) == 1 and len(receiver.received) == 1  # once per run end
            assert not refused, refused
    finally:
        stop_everything()
