"""Cromwell's PATCH of labels shares the run page's label editor: its rules, and an audit event for each change."""
from teams.models import AuditEvent
from tests.api.conftest import HELLO, submit, upload
from workflows.models import Run


def test_a_labels_patch_is_audited_and_a_patch_that_changes_nothing_is_not(client, alice, alice_auth):
    run_id = submit(client, alice_auth, HELLO, labels=upload({"a": "1"}, "l.json")).json()["id"]
    for _ in range(2):  # the second PATCH finds the labels already so
        response = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"a": "2", "b": "3"}',
                                content_type="application/json", **alice_auth)
        assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.LABELS)
    assert (event.user, event.target) == (alice, f"run {run_id}")
    assert event.details == {"set": {"a": "2", "b": "3"}, "was": {"a": "1"}, "removed": [], "count_set": 2,
                             "count_removed": 0}
    assert Run.objects.get().labels == {"a": "2", "b": "3"}


def test_a_refused_patch_names_each_problem_as_cromwell_does(client, alice_auth):
    run_id = submit(client, alice_auth, HELLO).json()["id"]
    response = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"cromwell-workflow-id": "x", "": "y"}',
                            content_type="application/json", **alice_auth)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "The cromwell-workflow-id label is set by the server",
        "Invalid label: `` is 0 characters; a key must be 1 to 255 characters"]
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LABELS).exists()
