"""Retrying a failed run's failed calls through the real engine: what succeeded is reused, not run again."""
import pytest
from django.urls import reverse

from tests.runs import Eager, drive, submit
from workflows.models import Call, Run

FLAKY = """version 1.0
workflow flaky {
  input { String flag }
  scatter (i in range(3)) { call step { input: i = i, flag = flag } }
  output { Array[Int] out = step.out }
}
task step {
  input {
    Int i
    String flag
  }
  command <<<
    if [ ~{i} -eq 1 ] && [ ! -e "~{flag}" ]; then echo "no flag yet" >&2; exit 3; fi
    echo ~{i}
  >>>
  output { Int out = read_int(stdout()) }
}
"""


@pytest.mark.django_db(transaction=True)
def test_retry_reruns_only_the_failed_shard_and_the_run_succeeds(client, alice, carol, other_team, project, tmp_path):
    flag = tmp_path / "flag"
    with Eager():
        run = drive(submit(project, alice, FLAKY, {"flaky.flag": str(flag)}))
        assert run.status == Run.Status.FAILED
        client.force_login(alice)
        page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
        assert "Retry failed calls" in page and "no flag yet" in page
        flag.touch()
        client.force_login(carol)
        assert client.post(reverse("workflows:run_retry", args=[run.pk])).status_code == 404
        assert Run.objects.get(pk=run.pk).status == Run.Status.FAILED
        client.force_login(alice)
        response = client.post(reverse("workflows:run_retry", args=[run.pk]), follow=True)
        assert "Retrying 1 failed call" in response.content.decode()
        run = drive(run)
    assert run.status == Run.Status.SUCCEEDED, run.failures
    assert run.outputs == {"flaky.out": [0, 1, 2]}
    attempts = sorted(Call.objects.filter(run=run).values_list("shard_index", "attempt", "status"))
    assert attempts == [(0, 1, "succeeded"), (1, 1, "retried"), (1, 2, "succeeded"), (2, 1, "succeeded")]
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "3 / 3" in page and "Failed, retried 1" in page and "Retry failed calls" not in page
