"""Retrying a failed run's failed calls through the real engine: what succeeded is reused, not run again."""
import pytest
from django.urls import reverse

from tests.runs import Eager, drive, submit
from workflows.models import Call, Run

FLAKY = """version 1.0
workflow flaky {
  scatter (i in range(3)) { call step { input: i = i } }
  output { Array[Int] out = step.out }
}
task step {
  input {
    Int i
  }
  command <<<
    # A sandboxed call sees only its own directory: shard 1 fails in its first one, not in a retry's.
    case "$PWD" in */shard-1/attempt-1/execution) echo "not on a first attempt" >&2; exit 3 ;; esac
    echo ~{i}
  >>>
  output { Int out = read_int(stdout()) }
}
"""


@pytest.mark.django_db(transaction=True)
def test_retry_reruns_only_the_failed_shard_and_the_run_succeeds(client, alice, carol, other_team, project):
    with Eager():
        run = drive(submit(project, alice, FLAKY))
        assert run.status == Run.Status.FAILED
        client.force_login(alice)
        page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
        assert "Retry failed calls" in page and "not on a first attempt" in page
        client.force_login(carol)
        assert client.post(reverse("workflows:run_retry", args=[run.pk])).status_code == 404
        assert Run.objects.get(pk=run.pk).status == Run.Status.FAILED
        client.force_login(alice)
        response = client.post(reverse("workflows:run_retry", args=[run.pk]), follow=True)
        assert "Retrying 1 failed call" in response.content.decode()
        run = drive(run)
    failed, retried = run.pause_spans[0]  # the stretch it spent failed, left out of its duration
    assert len(run.pauses) == 1 and failed < retried < run.ended
    assert run.working_time == run.ended - run.started - (retried - failed)
    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs == {"flaky.out": [0, 1, 2]}
    attempts = sorted(Call.objects.filter(run=run).values_list("shard_index", "attempt", "status"))
    assert attempts == [(0, 1, "succeeded"), (1, 1, "retried"), (1, 2, "succeeded"), (2, 1, "succeeded")]
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "<strong>3 succeeded</strong>" in page and "Failed, retried 1" in page and "Retry failed calls" not in page
    assert "between failing and being retried" in page
