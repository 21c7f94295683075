"""In Chromium: a run's output files (preview, download, an outsider refused), the WDL and its version diff,
label editing and run comparison. Screenshots of each page are kept under var/screenshots/ for review."""
import contextlib
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser import chromium_page, screenshot, watch_csp
from tests.test_ui_browser import log_in, own_connection_closed
from tests.workflows.test_views import BROKEN, HELLO
from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from tests.workflows.ui_outputs import files_run
from workflows.models import Run

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def browsing(live_server, monkeypatch):
    """Open Chromium (after the test's data is written: the WDL engine cannot load in Playwright's event loop)."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls here are plain sync code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_page() as page, own_connection_closed():
        page.set_default_timeout(30_000)
        refused = watch_csp(page)
        yield page, live_server.url
        assert refused == []  # every page kept the Content Security Policy


def test_alice_previews_and_downloads_output_files_and_carol_is_refused_even_by_guessed_urls(
        django_db_setup, live_server, monkeypatch, alice, carol, team, other_team, project):
    run = files_run(project, alice)
    with browsing(live_server, monkeypatch) as (page, base):
        _outputs(page, base, run)


def _outputs(page, base, run):
    log_in(page, base, "alice", "pw-alice")
    page.goto(f"{base}{reverse('workflows:run_detail', args=[run.pk])}")
    assert page.locator("#outputs a:has-text('part-1.bin')").count() == 1  # a file inside an array
    assert page.locator("#outputs a:has-text('table.csv')").count() == 1  # inside a struct
    screenshot(page, "run-outputs")
    page.click("#outputs a:has-text('report.tsv')")
    page.wait_for_selector("#output-text")
    assert "NA12878\t1000" in page.inner_text("#output-text")
    assert "<script>alert(1)</script>" in page.inner_text("#output-text")  # shown as text, never run
    screenshot(page, "output-preview")
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "report.tsv"
    assert Path(download.value.path()).read_text().startswith("sample\treads\nNA12878")

    page.goto(f"{base}{reverse('workflows:run_output', args=[run.pk, 'files.by_sample_out', 0])}")
    assert "This shows the first 64 KiB of 200.0" in page.inner_text("#output-truncated")
    screenshot(page, "output-preview-large")
    page.goto(f"{base}{reverse('workflows:run_output', args=[run.pk, 'files.parts_out', 1])}")
    assert "This is not a text file" in page.inner_text("#output-binary")
    page.goto(f"{base}{reverse('workflows:run_output', args=[run.pk, 'files.pair_out', 0])}")
    assert "it was deleted" in page.inner_text("#output-problem")
    screenshot(page, "output-deleted")

    log_in(page, base, "carol", "pw-carol")
    for url in [reverse("workflows:run_output", args=[run.pk, "files.report_out", 0]),
                reverse("workflows:run_output_download", args=[run.pk, "files.report_out", 0]),
                reverse("workflows:run_output_download", args=[run.pk, "files.by_sample_out", 0])]:
        response = page.goto(f"{base}{url}")
        assert response.status == 404 and "NA12878" not in page.content(), url
    screenshot(page, "output-outsider-404")


def test_alice_reads_a_versions_wdl_and_the_diff_after_a_refused_and_an_accepted_upload(
        django_db_setup, live_server, monkeypatch, alice, team, project, tmp_path):
    from workflows.services import workflow_create

    workflow = workflow_create(project=project, name="Hello", source=HELLO, filename="hello.wdl", user=alice)
    (tmp_path / "broken.wdl").write_bytes(BROKEN)
    (tmp_path / "hello.wdl").write_bytes(HELLO.replace(b'"world"', b'"you"'))
    with browsing(live_server, monkeypatch) as (page, base):
        _versions(page, base, workflow, tmp_path)


def _versions(page, base, workflow, tmp_path):
    log_in(page, base, "alice", "pw-alice")
    page.goto(f"{base}{reverse('workflows:detail', args=[workflow.pk])}")
    page.set_input_files("input[name=source]", str(tmp_path / "broken.wdl"))
    page.click("text=Upload version")
    assert "broken.wdl:3:3:" in page.inner_text(".field-error")  # the friendly parse error, by the field
    screenshot(page, "version-upload-error")
    page.set_input_files("input[name=source]", str(tmp_path / "hello.wdl"))
    page.click("text=Upload version")
    page.wait_for_selector("text=Version 2 of Hello is ready.")
    page.click("a:has-text('v1')")
    page.wait_for_selector("#wdl-source")
    assert page.locator("#wdl-source .wdl-kd:has-text('workflow')").count() == 1
    screenshot(page, "version-source")
    page.click("#diff")
    page.wait_for_selector("#wdl-diff")
    changed = page.locator("#wdl-diff tr.changed")
    assert changed.count() == 1
    assert '"world"' in changed.locator("td.old").inner_text() and '"you"' in changed.locator("td.new").inner_text()
    screenshot(page, "version-diff")


def test_alice_edits_a_runs_labels_and_compares_it_with_another_run(
        django_db_setup, live_server, monkeypatch, alice, bob, team, project):
    workflow = hello_workflow(project, alice)
    first = make_run(workflow, alice, labels={"sample": "NA12878"})
    second = make_run(workflow, alice, inputs={"hello.n": 5}, status=Run.Status.FAILED)
    make_calls(first, 3)
    make_calls(second, 2)
    with browsing(live_server, monkeypatch) as (page, base):
        _labels_and_comparison(page, base, first, second)


def _labels_and_comparison(page, base, first, second):
    log_in(page, base, "alice", "pw-alice")
    page.goto(f"{base}{reverse('workflows:run_detail', args=[first.pk])}")
    page.click("#edit-labels")
    page.fill("textarea[name=labels]", "sample=NA12878\nsample=again")
    page.click("#save-labels")
    assert "label 'sample' is given twice" in page.inner_text(".field-error")
    page.fill("textarea[name=labels]", "sample=NA12891\nflowcell=FC7")
    screenshot(page, "run-labels")
    page.click("#save-labels")
    page.wait_for_selector("text=Labels saved.")
    assert "flowcell=FC7" in page.inner_text("#run-labels") and "NA12878" not in page.inner_text("#run-labels")

    page.select_option("#compare-b", str(second.pk))
    page.click("#compare")
    page.wait_for_selector("#compare-calls")
    assert page.locator("tr.differs th:has-text('hello.n')").count() == 1
    assert page.locator("tr.differs th:has-text('hello.greet')").count() == 1  # 3 shards against 2
    screenshot(page, "run-compare")

    log_in(page, base, "bob", "pw-bob")  # a viewer sees the labels but cannot edit them
    page.goto(f"{base}{reverse('workflows:run_detail', args=[first.pk])}")
    assert page.locator("#edit-labels").count() == 0 and "flowcell=FC7" in page.inner_text("#run-labels")
    assert page.goto(f"{base}{reverse('workflows:run_labels', args=[first.pk])}").status == 403
