"""Cleaning up a finished run: a preview of what goes, then only the run's own scripts and directory go."""
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from teams.models import AuditEvent
from tests.workflows.ui_factories import hello_workflow, make_run
from workflows.models import Run, Script


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


def add_script(run, name: str, content: bytes, key: str | None = None) -> Script:
    key = key or f"{run.script_prefix}{name}"
    if not default_storage.exists(key):
        default_storage.save(key, ContentFile(content))
    return Script.objects.create(run=run, team=run.team, bucket="", key=key, size=len(content))


def add_files(run) -> Path:
    execution = Path(run.root) / "call-greet" / "shard-0" / "attempt-1" / "execution"
    execution.mkdir(parents=True)
    (execution / "stdout").write_bytes(b"x" * 1000)
    (execution / "rc").write_bytes(b"0\n")
    (execution / "script").write_bytes(b"#!/bin/bash\n")
    return execution


@pytest.fixture
def finished(workflow, alice):
    run = make_run(workflow, alice)
    add_script(run, f"script-a-{run.pk}", b"a" * 100)
    add_script(run, f"script-b-{run.pk}", b"b" * 50)
    add_files(run)
    return run


def cleanup_url(run):
    return reverse("workflows:run_cleanup", args=[run.pk])


def test_the_preview_counts_the_runs_scripts_and_files(client, alice, finished):
    client.force_login(alice)
    page = client.get(cleanup_url(finished)).content.decode()
    assert "2 objects, 150\xa0bytes" in page  # scripts
    assert "3 files, 1014\xa0bytes" in page  # call directory
    assert "5 objects" in page and "(1164 bytes)" in page
    assert "Delete 5 objects" in page
    assert Path(finished.root).exists() and Script.objects.count() == 2  # a preview deletes nothing


def test_cleanup_deletes_the_scripts_and_the_runs_directory_and_says_so(client, alice, finished):
    keys = list(Script.objects.values_list("key", flat=True))
    client.force_login(alice)
    response = client.post(cleanup_url(finished), follow=True)
    page = response.content.decode()
    assert "deleted 2 scripts and 3 files (1,164 bytes)" in page
    assert not Path(finished.root).exists() and Path(finished.root).parent.exists()
    assert not any(default_storage.exists(key) for key in keys)
    assert not Script.objects.exists()
    event = AuditEvent.objects.get(action="cleanup", target=f"run {finished.pk}")
    assert (event.user, event.details["status"], event.details["files"], event.details["scripts"]) == (alice, "done", 3, 2)
    assert "Cleaned up by alice" in page
    assert "Nothing left to delete" in client.get(cleanup_url(finished)).content.decode()


def test_a_script_another_run_uses_is_kept(client, alice, workflow, finished):
    other = make_run(workflow, alice, status=Run.Status.RUNNING)
    shared = Script.objects.filter(run=finished).first()
    Script.objects.create(run=other, team=other.team, bucket="", key=shared.key, size=shared.size)
    client.force_login(alice)
    assert "also used by other runs and will be kept" in client.get(cleanup_url(finished)).content.decode()
    client.post(cleanup_url(finished))
    assert default_storage.exists(shared.key)
    assert list(Script.objects.values_list("run_id", flat=True)) == [other.pk]


def test_cleanup_of_an_active_run_is_refused_and_deletes_nothing(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    script = add_script(run, "running-script", b"s")
    add_files(run)
    client.force_login(alice)
    preview = client.get(cleanup_url(run)).content.decode()
    assert "is Running: a run is cleaned up only once it has ended" in preview and "Delete" not in preview
    response = client.post(cleanup_url(run))
    assert response.status_code == 400
    assert "is Running: a run is cleaned up only once it has ended" in response.content.decode()
    assert Path(run.root).exists() and default_storage.exists(script.key) and Script.objects.count() == 1
    assert not AuditEvent.objects.filter(action="cleanup").exists()
    assert 'id="cleanup"' not in client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()


def test_nothing_outside_the_runs_own_directory_and_prefix_is_touched(client, alice, workflow, tmp_path):
    run = make_run(workflow, alice)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.bam").write_bytes(b"keep")
    Run.objects.filter(pk=run.pk).update(root=str(outside))  # not <root>/<workflow>/<run id>
    foreign = add_script(run, "", b"other team's", key="teams/proteomics/their-script")
    run.refresh_from_db()
    client.force_login(alice)
    page = client.get(cleanup_url(run)).content.decode()
    assert "0 files" in page and "Nothing left to delete" in page
    client.post(cleanup_url(run))
    assert (outside / "data.bam").read_bytes() == b"keep"
    assert default_storage.exists(foreign.key)


def test_a_cleaned_up_run_cannot_be_retried(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.FAILED)
    from tests.workflows.ui_factories import make_calls

    make_calls(run, 1, status="failed")
    client.force_login(alice)
    client.post(cleanup_url(run))
    page = client.post(reverse("workflows:run_retry", args=[run.pk]), follow=True).content.decode()
    assert "files were cleaned up" in page
    assert Run.objects.get(pk=run.pk).status == Run.Status.FAILED


def test_bob_the_viewer_cannot_preview_or_clean_up(client, bob, finished):
    client.force_login(bob)
    assert client.get(cleanup_url(finished)).status_code == 403
    assert client.post(cleanup_url(finished)).status_code == 403
    assert Path(finished.root).exists() and Script.objects.count() == 2


def test_carol_gets_404_and_deletes_nothing(client, carol, other_team, finished):
    client.force_login(carol)
    assert client.get(cleanup_url(finished)).status_code == 404
    assert client.post(cleanup_url(finished)).status_code == 404
    assert Path(finished.root).exists() and Script.objects.count() == 2


def test_symlinks_are_never_followed_out_of_the_runs_directory(client, alice, workflow, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.bam").write_bytes(b"keep")
    linked = make_run(workflow, alice)  # its directory itself is a link
    Path(linked.root).parent.mkdir(parents=True, exist_ok=True)
    Path(linked.root).symlink_to(outside)
    holding = make_run(workflow, alice)  # its directory holds a link
    (add_files(holding) / "inputs").symlink_to(outside)
    client.force_login(alice)
    assert "0 files" in client.get(cleanup_url(linked)).content.decode()
    assert "4 files" in client.get(cleanup_url(holding)).content.decode()  # the link, not what it points at
    client.post(cleanup_url(linked))
    client.post(cleanup_url(holding))
    assert (outside / "keep.bam").read_bytes() == b"keep"
    assert not Path(holding.root).exists()
