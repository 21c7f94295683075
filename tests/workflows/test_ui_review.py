"""After a run: editing its labels (by launch's rules, audited) and comparing two runs side by side."""
import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from teams.models import AuditEvent
from tests.workflows.test_limits import limit
from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from workflows.models import Call, Run, RunLabel


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


@pytest.fixture
def run(workflow, alice):
    return make_run(workflow, alice, labels={"sample": "NA12878", "batch": "b1"})


def labels_url(run):
    return reverse("workflows:run_labels", args=[run.pk])


def compare_url(a, b):
    return reverse("workflows:run_compare") + f"?a={a}&b={b}"


def test_the_run_page_offers_label_editing_to_those_who_may_act_only(client, alice, bob, run):
    client.force_login(alice)
    assert labels_url(run) in client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    client.force_login(bob)
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "sample=NA12878" in page and labels_url(run) not in page


def test_alice_edits_labels_adding_changing_and_removing_and_it_is_audited(client, alice, run):
    client.force_login(alice)
    form = client.get(labels_url(run)).content.decode()
    assert "batch=b1\nsample=NA12878</textarea>" in form  # as PostgreSQL keeps them (jsonb orders keys)
    response = client.post(labels_url(run), {"labels": "sample=NA12891\nflowcell = FC1\n"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.labels == {"sample": "NA12891", "flowcell": "FC1"}
    assert dict(RunLabel.objects.filter(run=run).values_list("key", "value")) == run.labels
    event = AuditEvent.objects.get(action=AuditEvent.Action.LABELS)
    assert (event.user, event.target) == (alice, f"run {run.pk}")
    assert event.details == {"set": {"sample": "NA12891", "flowcell": "FC1"}, "was": {"sample": "NA12878"},
                             "removed": ["batch"], "count_set": 2, "count_removed": 1}
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "sample=NA12891" in page and "batch=b1" not in page
    # The run list's label filter sees the edit.
    listed = client.get(reverse("workflows:run_list", args=[run.team.slug]) + "?label=flowcell=FC1").content.decode()
    assert str(run.pk)[:8] in listed


def test_saving_the_same_labels_changes_and_audits_nothing(client, alice, run):
    client.force_login(alice)
    assert client.post(labels_url(run), {"labels": "batch=b1\nsample=NA12878"}).status_code == 302
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LABELS).exists()


@pytest.mark.parametrize("text, problem", [
    ("no equals sign", "line 1: &#x27;no equals sign&#x27; is not key=value"),
    ("a=1\na=2", "line 2: label &#x27;a&#x27; is given twice"),
    ("k" * 256 + "=v", "is 256 characters; a key must be 1 to 255 characters"),
    ("k=" + "v" * 256, "256 characters, the maximum is 255"),
    ("k=a\x00b", "Null characters are not allowed"),
    ("cromwell-workflow-id=x", "The cromwell-workflow-id label is set by the server"),
    ("batchsite-project=genomics/other", "The batchsite-project label is set at submission and cannot change"),
])
def test_bad_labels_are_refused_naming_the_problem_and_nothing_changes(client, alice, run, text, problem):
    client.force_login(alice)
    response = client.post(labels_url(run), {"labels": text})
    assert response.status_code == 400 and problem in response.content.decode()
    run.refresh_from_db()
    assert run.labels == {"sample": "NA12878", "batch": "b1"} and RunLabel.objects.filter(run=run).count() == 2
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LABELS).exists()


def test_the_teams_label_limit_applies_as_at_launch(client, alice, run, team):
    limit(team, max_labels_per_run=2)
    client.force_login(alice)
    response = client.post(labels_url(run), {"labels": "a=1\nb=2\nc=3"})
    assert response.status_code == 400 and "3 labels given: at most 2 are allowed per run" in response.content.decode()


def test_a_viewer_gets_403_and_an_outsider_404_on_label_editing(client, bob, carol, other_team, run):
    for user, status in ((bob, 403), (carol, 404)):
        client.force_login(user)
        assert client.get(labels_url(run)).status_code == status
        assert client.post(labels_url(run), {"labels": "x=1"}).status_code == status
    run.refresh_from_db()
    assert run.labels == {"sample": "NA12878", "batch": "b1"}


def test_two_runs_compare_side_by_side(client, alice, bob, workflow, run):
    other = make_run(workflow, alice, inputs={"hello.n": 4}, labels={"sample": "NA12878"}, status=Run.Status.FAILED)
    Run.objects.filter(pk=run.pk).update(outputs={"hello.out": "hello world 3!"}, options={"read_from_cache": False})
    make_calls(run, 3)
    make_calls(other, 2)
    make_calls(other, 1, status=Call.Status.FAILED, fqn="hello.shout")
    now = timezone.now()
    Call.objects.filter(run=other, status=Call.Status.FAILED).update(started=now - dt.timedelta(minutes=2), ended=now)
    for user in (alice, bob):
        client.force_login(user)
        page = client.get(compare_url(run.pk, other.pk)).content.decode()
        assert str(run.pk)[:8] in page and str(other.pk)[:8] in page
        inputs = page.split("<h2>Inputs</h2>")[1].split("</section>")[0]
        assert '<tr class="differs"><th class="mono">hello.n</th>' in inputs
        assert "<pre>3</pre>" in inputs and "<pre>4</pre>" in inputs
        labels = page.split("<h2>Labels</h2>")[1].split("</section>")[0]
        assert '<tr><th class="mono">sample</th>' in labels
        assert '<tr class="differs"><th class="mono">batch</th>' in labels
        assert "&quot;hello world 3!&quot;" in page.split("<h2>Outputs</h2>")[1]
        calls = page.split('id="compare-calls"')[1]
        greet = calls.split('<th class="mono">hello.greet</th>')[1]
        shout = calls.split('<th class="mono">hello.shout</th>')[1]
        assert "Succeeded</span> 3" in greet.split("</td>")[0] and "Succeeded</span> 2" in greet.split("</td>")[1]
        assert "no such call" in shout.split("</td>")[0] and "Failed</span> 1" in shout.split("</td>")[1]
        assert "longest 2 m 00 s" in shout.split("</td>")[1]
    # The run page offers the comparison with the workflow's other runs.
    detail = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert f'<option value="{other.pk}">' in detail and 'name="a" value="' + str(run.pk) in detail


def test_comparing_needs_both_runs_readable_else_404(client, alice, carol, other_team, run, project):
    from tests.workflows.ui_factories import hello_workflow as make_workflow
    from teams.services import project_create

    carols = make_run(make_workflow(project_create(team=other_team, name="P", slug="p"), carol, name="Theirs"), carol)
    client.force_login(alice)
    assert client.get(compare_url(run.pk, carols.pk)).status_code == 404
    assert client.get(compare_url(carols.pk, run.pk)).status_code == 404
    assert client.get(compare_url(run.pk, uuid.uuid4())).status_code == 404
    client.force_login(carol)
    response = client.get(compare_url(run.pk, carols.pk))
    assert response.status_code == 404 and b"NA12878" not in response.content


@pytest.mark.parametrize("query", ["", "?a=nope&b=x", "?a={run}", "?b={run}", "?a={run}&b=" + "f" * 200])
def test_bad_comparison_parameters_are_400(client, alice, run, query):
    client.force_login(alice)
    response = client.get(reverse("workflows:run_compare") + query.format(run=run.pk))
    assert response.status_code == 400
