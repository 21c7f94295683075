"""Each team's submission limits through the Cromwell API: single submissions, batches and label patches."""
from tests.api.conftest import HELLO, submit, upload
from tests.workflows.test_limits import limit
from workflows.models import Run, RunLabel, WorkflowVersion

BATCH = "/api/workflows/v1/batch"


def test_the_api_refuses_more_labels_than_the_team_allows(client, alice_auth, team):
    limit(team, max_labels_per_run=2)
    response = submit(client, alice_auth, HELLO, labels=upload({"a": "1", "b": "2", "c": "3"}, "l.json"))
    assert response.status_code == 400 and "3 labels given: at most 2 are allowed per run" in response.json()["message"]
    assert not Run.objects.exists()
    run_id = submit(client, alice_auth, HELLO, labels=upload({"a": "1"}, "l.json")).json()["id"]
    patch = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"b": "2", "c": "3"}',
                         content_type="application/json", **alice_auth)
    assert patch.status_code == 400 and "at most 2 are allowed per run" in patch.json()["message"]
    assert Run.objects.get().labels == {"a": "1"} and RunLabel.objects.count() == 1


def test_the_api_refuses_inputs_over_the_per_run_limit_before_parsing_them(client, alice_auth, team):
    limit(team, max_input_bytes_per_run=100)
    big = b'{"hello.who": "' + b"x" * 200  # not even JSON: the size is checked first
    response = submit(client, alice_auth, HELLO, workflowInputs=upload(big, "i.json"))
    assert response.status_code == 400
    assert f"workflowInputs is {len(big)} bytes; at most 100 are allowed" in response.json()["message"]
    assert not WorkflowVersion.objects.exists()


def test_the_api_names_an_input_over_the_per_value_limit(client, alice_auth, team):
    limit(team, max_input_bytes_per_value=50)
    response = submit(client, alice_auth, HELLO, {"hello.who": "y" * 60})
    assert response.status_code == 400
    assert "hello.who: is 62 bytes of JSON; at most 50 are allowed per input" in response.json()["message"]
    assert not Run.objects.exists() and not WorkflowVersion.objects.exists()


def test_a_batch_over_the_teams_batch_size_starts_nothing(client, alice_auth, team):
    limit(team, max_runs_per_batch=3)
    response = submit(client, alice_auth, HELLO, [{"hello.who": str(i)} for i in range(4)], url=BATCH)
    assert response.status_code == 400
    assert "The batch has 4 workflows; at most 3 are allowed per batch submission" in response.json()["message"]
    assert not Run.objects.exists() and not WorkflowVersion.objects.exists()
    assert submit(client, alice_auth, HELLO, [{"hello.who": str(i)} for i in range(3)], url=BATCH).status_code == 201
    assert Run.objects.count() == 3


def test_a_batch_that_would_pass_the_unfinished_runs_limit_starts_nothing(client, alice_auth, team):
    limit(team, max_queued_runs=3)
    assert submit(client, alice_auth, HELLO, workflowOnHold="true").status_code == 201
    response = submit(client, alice_auth, HELLO, [{}, {}, {}], url=BATCH, workflowOnHold="true")
    assert response.status_code == 400
    assert "has 1 runs not finished (its limit is 3), so 3 more runs cannot start" in response.json()["message"]
    assert Run.objects.count() == 1
    assert submit(client, alice_auth, HELLO, [{}, {}], url=BATCH, workflowOnHold="true").status_code == 201
    single = submit(client, alice_auth, HELLO)
    assert single.status_code == 400 and "so another run cannot start" in single.json()["message"]
    assert Run.objects.count() == 3


def test_the_limits_are_those_of_the_team_the_project_label_names(client, alice_auth, team, other_team, alice):
    from teams.models import Membership
    from teams.services import membership_set, project_create

    membership_set(team=other_team, user=alice, role=Membership.Role.SCIENTIST)
    project_create(team=other_team, name="Strict", slug="strict")
    limit(other_team, max_labels_per_run=1)
    labels = {"batchsite-project": "proteomics/strict", "sample": "s1"}
    response = submit(client, alice_auth, HELLO, labels=upload(labels, "l.json"))
    assert response.status_code == 400 and "at most 1 are allowed per run" in response.json()["message"]
    assert submit(client, alice_auth, HELLO, labels=upload({"sample": "s1", "x": "y"}, "l.json")).status_code == 201
