"""Cleaning up a finished run on AWS Batch: its objects under its S3 root and its own scripts go, nothing else."""
import pytest
from django.urls import reverse

from teams.models import AuditEvent
from tests.aws.conftest import ROOT_BUCKET, SCRIPT_BUCKET
from tests.aws.test_end_to_end import SCATTER_GATHER, drive
from workflows.models import Run, Script
from workflows.services import run_submit, workflow_create

pytestmark = pytest.mark.django_db(transaction=True)


def root_prefix(run: Run) -> str:
    return run.root.removeprefix(f"s3://{ROOT_BUCKET}/") + "/"


def test_cleaning_up_a_batch_run_deletes_its_s3_objects_and_keeps_every_other_runs(
        aws, eager, client, project, alice, carol, other_team):
    version = workflow_create(project=project, name="gather", source=SCATTER_GATHER).versions.get()
    first = run_submit(version=version, user=alice, inputs={"gather_files.parts": ["one", "two", "three"]})
    second = run_submit(version=version, user=alice, inputs={"gather_files.parts": ["one", "two"]})
    for run in (first, second):
        assert drive(run, until=lambda r: not r.is_active).status == Run.Status.SUCCEEDED
    first_objects = aws.keys(ROOT_BUCKET, root_prefix(first))
    second_objects = aws.keys(ROOT_BUCKET, root_prefix(second))
    assert len(first_objects) >= 8 and second_objects  # scripts, rc, stdout, stderr and outputs of each call
    # An object whose key merely starts with the run's directory name is not in it.
    neighbour = root_prefix(first).rstrip("/") + "-copy/kept.txt"
    aws.s3.put_object(Bucket=ROOT_BUCKET, Key=neighbour, Body=b"kept")
    scripts = {run: set(Script.objects.filter(run=run).values_list("key", flat=True)) for run in (first, second)}
    only_first = scripts[first] - scripts[second]
    assert only_first == scripts[first] and scripts[second]  # each script names its run's own directory
    url = reverse("workflows:run_cleanup", args=[first.pk])

    client.force_login(carol)  # an outsider finds nothing and deletes nothing
    assert client.post(url).status_code == 404
    assert aws.keys(ROOT_BUCKET, root_prefix(first)) == first_objects

    client.force_login(alice)
    preview = client.get(url).content.decode()
    assert f"{len(first_objects)} files" in preview and f"{len(only_first)} object" in preview
    assert set(aws.keys(SCRIPT_BUCKET)) == scripts[first] | scripts[second]  # a preview deletes nothing
    page = client.post(url, follow=True).content.decode()

    assert f"deleted {len(only_first)} script" in page and f"and {len(first_objects)} files" in page
    assert aws.keys(ROOT_BUCKET, root_prefix(first)) == []
    assert aws.keys(ROOT_BUCKET, root_prefix(second)) == second_objects
    assert aws.read(f"s3://{ROOT_BUCKET}/{neighbour}") == "kept"
    assert set(aws.keys(SCRIPT_BUCKET)) == scripts[second]
    assert not Script.objects.filter(run=first).exists() and Script.objects.filter(run=second).count() == len(
        scripts[second])
    event = AuditEvent.objects.get(action="cleanup", target=f"run {first.pk}")
    assert (event.details["status"], event.details["files"], event.details["scripts"]) == (
        "done", len(first_objects), len(only_first))
    # A second cleanup finds nothing left and deletes nothing more.
    assert "Nothing left to delete" in client.get(url).content.decode()
    client.post(url)
    assert aws.keys(ROOT_BUCKET, root_prefix(second)) == second_objects
