"""Spot reclaims: a job whose host went away is retried on its own budget, never on maxRetries."""
from tests.api.conftest import json_body
import pytest
from django.urls import reverse

from tests.aws.test_end_to_end import drive
from workflows.models import Call, Run
from workflows.services import run_submit, workflow_create


def task_wdl(runtime: str = "", command: str = "echo hi") -> bytes:
    return (f"version 1.0\nworkflow w {{ call t }}\ntask t {{\n  command <<< {command} >>>\n"
            f"  runtime {{ {runtime} }}\n}}\n").encode()


def run_to_end(project, user, source: bytes) -> tuple[Run, list[Call]]:
    version = workflow_create(project=project, name="spot", source=source).versions.get()
    run = drive(run_submit(version=version, user=user, inputs={}), until=lambda r: not r.is_active)
    return run, list(Call.objects.filter(run=run).order_by("attempt"))


@pytest.mark.django_db(transaction=True)
def test_a_reclaimed_job_is_retried_without_using_max_retries_and_shows_preempted(aws, eager, project, alice, client):
    aws.emulator.reclaim_next(2)

    run, calls = run_to_end(project, alice, task_wdl())  # maxRetries 0: no retry of a failure at all

    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert [c.status for c in calls] == [Call.Status.PREEMPTED, Call.Status.PREEMPTED, Call.Status.SUCCEEDED]
    assert "Host EC2 (instance i-" in calls[0].failure and "terminated" in calls[0].failure
    assert len({c.call_dir for c in calls}) == 3
    client.force_login(alice)
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert page.count('data-status="preempted"') == 2 and "attempt 1 was preempted" in page
    metadata = json_body(client.get(f"/api/workflows/v1/{run.pk}/metadata"))
    assert [a["backendStatus"] for a in metadata["calls"]["w.t"]] == ["Preempted", "Preempted", "Done"]


@pytest.mark.django_db(transaction=True)
def test_reclaims_beyond_the_budget_fail_the_call_saying_why(aws, eager, project, alice):
    aws.emulator.reclaim_next(3)

    run, calls = run_to_end(project, alice, task_wdl("preemptible: 1  maxRetries: 2"))

    assert run.status == Run.Status.FAILED
    assert [c.status for c in calls] == [Call.Status.PREEMPTED, Call.Status.FAILED]
    assert calls[1].failure.startswith("the job's host was reclaimed 2 times, more than the 1 retries allowed "
                                       "after a reclaim (runtime attribute preemptible, or the provider's default)")
    assert "Host EC2 (instance" in calls[1].failure


@pytest.mark.django_db(transaction=True)
def test_max_retries_still_counts_only_failures_after_a_reclaim(aws, eager, project, alice):
    aws.emulator.reclaim_next(1)

    run, calls = run_to_end(project, alice, task_wdl("maxRetries: 1", command="exit 3"))

    assert run.status == Run.Status.FAILED
    assert [c.status for c in calls] == [Call.Status.PREEMPTED, Call.Status.RETRIED, Call.Status.FAILED]
    assert [c.return_code for c in calls] == [None, 3, 3]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("aws_config_extra", ["default-runtime-attributes { preemptible = 0 }"])
def test_the_providers_default_budget_applies_when_the_task_sets_none(aws, eager, project, alice):
    aws.emulator.reclaim_next(1)

    run, calls = run_to_end(project, alice, task_wdl())

    assert [c.status for c in calls] == [Call.Status.FAILED]
    assert "reclaimed 1 time, more than the 0 retries" in calls[0].failure
