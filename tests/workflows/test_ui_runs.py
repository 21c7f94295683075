"""The run list, a run's page (calls, timeline, live part) and its actions, scoped by role."""
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from teams.models import AuditEvent, Membership
from teams.services import membership_set, user_create
from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from workflows.models import Call, Run


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


@pytest.fixture
def dave(team):
    """A scientist in alice's team."""
    user = user_create(username="dave", password="pw-dave")
    membership_set(team=team, user=user, role=Membership.Role.SCIENTIST)
    return user


def list_url(team, **params):
    from urllib.parse import urlencode

    return reverse("workflows:run_list", args=[team.slug]) + (f"?{urlencode(params)}" if params else "")


def run_ids(response) -> set[str]:
    return {str(run.pk) for run in response.context["page"].object_list}


# ---- run list -----------------------------------------------------------------------

def test_the_run_list_filters_by_status_workflow_submitter_label_and_date(client, alice, dave, team, project, workflow):
    other = hello_workflow(project, alice, name="Other")
    old = make_run(workflow, alice, labels={"sample": "NA1"}, submitted=timezone.now() - dt.timedelta(days=10))
    failed = make_run(workflow, dave, status=Run.Status.FAILED, labels={"sample": "NA2"})
    running = make_run(other, alice, status=Run.Status.RUNNING)
    client.force_login(alice)
    assert run_ids(client.get(list_url(team))) == {str(old.pk), str(failed.pk), str(running.pk)}
    assert run_ids(client.get(list_url(team, status="Failed"))) == {str(failed.pk)}
    assert run_ids(client.get(list_url(team, workflow=other.pk))) == {str(running.pk)}
    assert run_ids(client.get(list_url(team, submitter=dave.pk))) == {str(failed.pk)}
    assert run_ids(client.get(list_url(team, label="sample=NA1"))) == {str(old.pk)}
    assert run_ids(client.get(list_url(team, label="sample"))) == {str(old.pk), str(failed.pk)}
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert run_ids(client.get(list_url(team, since=since))) == {str(failed.pk), str(running.pk)}
    until = (timezone.now() - dt.timedelta(days=5)).date().isoformat()
    assert run_ids(client.get(list_url(team, until=until))) == {str(old.pk)}


def test_the_run_list_searches_by_run_id_or_workflow_name(client, alice, team, project, workflow):
    other = hello_workflow(project, alice, name="Variant calling")
    first = make_run(workflow, alice)
    second = make_run(other, alice)
    client.force_login(alice)
    assert run_ids(client.get(list_url(team, q=str(first.pk)[:8]))) == {str(first.pk)}
    assert run_ids(client.get(list_url(team, q=str(first.pk)[:13]))) == {str(first.pk)}  # with its dash
    assert run_ids(client.get(list_url(team, q="variant"))) == {str(second.pk)}
    page = client.get(list_url(team, q="nothing-like-this")).content.decode()
    assert "No run matches these filters" in page


def test_the_run_list_is_paginated_newest_first_or_oldest_first(client, alice, team, workflow):
    now = timezone.now()
    runs = [make_run(workflow, alice, submitted=now - dt.timedelta(minutes=i)) for i in range(30)]
    client.force_login(alice)
    first = client.get(list_url(team))
    assert [r.pk for r in first.context["page"].object_list] == [r.pk for r in runs[:25]]
    assert "Page 1 of 2" in first.content.decode()
    assert [r.pk for r in client.get(list_url(team, page=2)).context["page"].object_list] == [r.pk for r in runs[25:]]
    oldest = client.get(list_url(team, sort="oldest")).context["page"].object_list
    assert oldest[0].pk == runs[-1].pk
    assert "?sort=oldest&page=2" in client.get(list_url(team, sort="oldest")).content.decode()


def test_a_bad_filter_value_is_shown_and_ignored(client, alice, team, workflow):
    run = make_run(workflow, alice)
    client.force_login(alice)
    response = client.get(list_url(team, since="last tuesday", status="Nope"))
    assert response.status_code == 200
    assert run_ids(response) == {str(run.pk)}
    page = response.content.decode()
    assert "Enter a valid date" in page and "Select a valid choice" in page


def test_an_empty_team_shows_how_to_start(client, alice, team):
    client.force_login(alice)
    assert "has no runs yet" in client.get(list_url(team)).content.decode()


def test_the_run_list_shows_progress_per_run_in_constant_queries(client, alice, team, workflow, django_assert_max_num_queries):
    for _ in range(5):
        run = make_run(workflow, alice, status=Run.Status.RUNNING)
        make_calls(run, 4)
        make_calls(run, 2, status=Call.Status.RUNNING, fqn="hello.other")
    client.force_login(alice)
    with django_assert_max_num_queries(12):
        page = client.get(list_url(team)).content.decode()
    assert page.count("4/6") == 5


# ---- run detail ---------------------------------------------------------------------

def test_the_run_page_shows_who_ran_what_with_which_role_and_prefix(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.FAILED, labels={"sample": "NA12878"},
                   inputs={"hello.n": 3, "hello.tags": ["x", "y"]})
    Run.objects.filter(pk=run.pk).update(failures=[{"message": "hello.greet failed: exit 3", "causedBy": []}],
                                         options={"aws_batch_job_role_arn": run.job_role_arn})
    make_calls(run, 2)
    Call.objects.create(run=run, team=run.team, project=run.project, backend=run.backend, call_id="call-greet-9",
                        fqn="hello.greet", task="greet", shard_index=9, status=Call.Status.FAILED, return_code=3,
                        backend_job_id="/jobs/9", failure="the command exited with return code 3\nboom")
    client.force_login(alice)
    # <wbr> marks where a long name may wrap (after a dot or an underscore); the reader sees none.
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode().replace("<wbr>", "")
    for text in ("alice", run.job_role_arn, "teams/genomics/", "sample=NA12878", "hello.tags", "&quot;y&quot;",
                 "hello.greet failed: exit 3", "boom",
                 '<strong>2 succeeded</strong>, <span class="bad">1 failed</span>', "Failed 1", "Succeeded 2", "Retry failed calls",
                 "aws_batch_job_role_arn", str(run.pk)):
        assert text in page, text
    assert "Traceback" not in page


def calls_page_queries(client, run) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("workflows:run_detail", args=[run.pk]))
    assert response.status_code == 200
    return len(queries)


def test_a_5000_call_run_renders_in_as_many_queries_as_a_50_call_run_and_paginates(client, alice, workflow):
    small = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(small, 50)
    big = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(big, 4990)
    make_calls(big, 10, status=Call.Status.RUNNING, fqn="hello.align")
    client.force_login(alice)
    calls_page_queries(client, small)  # warm the per-process caches (the WDL document, the config)
    assert calls_page_queries(client, big) == calls_page_queries(client, small) <= 15
    response = client.get(reverse("workflows:run_detail", args=[big.pk]))
    page = response.content.decode()
    assert page.count('class="call-row"') == 100
    assert "Page 1 of 50 · 5000 call attempts" in page and "4990 / 5000" in page
    assert "one bar per call" in page  # the timeline groups the shards of each call
    second = client.get(reverse("workflows:run_detail", args=[big.pk]) + "?page=50").content.decode()
    assert "Page 50 of 50" in second and second.count('class="call-row"') == 100


def test_the_call_table_filters_by_status_and_call(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 3)
    make_calls(run, 2, status=Call.Status.RUNNING, fqn="hello.align")
    client.force_login(alice)
    url = reverse("workflows:run_detail", args=[run.pk])
    assert client.get(url + "?status=running").content.decode().count('class="call-row"') == 2
    assert client.get(url + "?call=hello.greet").content.decode().count('class="call-row"') == 3


def test_the_live_part_refreshes_while_the_run_is_active_and_reloads_the_page_when_it_ends(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 2, status=Call.Status.RUNNING)
    client.force_login(alice)
    live_url = reverse("workflows:run_live", args=[run.pk])
    response = client.get(live_url, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert 'hx-trigger="every 2s"' in page and page.count('class="call-row"') == 2 and "<html" not in page
    assert 'hx-vals=\'{"shown": "Running"}\'' in page
    assert "HX-Refresh" not in client.get(live_url + "?shown=Running", headers={"HX-Request": "true"}).headers
    # Aborted from another tab or the API: the page reloads to show it (and drop its Abort button).
    Run.objects.filter(pk=run.pk).update(status=Run.Status.ABORTING)
    assert client.get(live_url + "?shown=Running", headers={"HX-Request": "true"}).headers["HX-Refresh"] == "true"
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED, ended=timezone.now())
    ended = client.get(live_url, headers={"HX-Request": "true"})
    assert ended.headers["HX-Refresh"] == "true"
    assert 'hx-trigger' not in client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode().split(
        'id="run-live"')[1].split(">")[0]


def test_the_timeline_draws_a_bar_per_call_attempt(client, alice, workflow):
    run = make_run(workflow, alice)
    make_calls(run, 3)
    client.force_login(alice)
    page = client.get(reverse("workflows:run_timeline", args=[run.pk])).content.decode()
    assert page.count('class="tl-row"') == 3 and "hello.greet[2]" in page and "bar-succeeded" in page
    assert "<!doctype html>" in page


def test_the_timeline_template_renders_on_its_own_for_the_api(alice, workflow):
    from django.template.loader import render_to_string

    from workflows.selectors import run_timeline

    run = make_run(workflow, alice)
    make_calls(run, 2)
    html = render_to_string("workflows/timeline_page.html", {"run": run, "timeline": run_timeline(run=run)})
    assert html.count('class="tl-row"') == 2


def test_a_run_without_calls_says_so(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.SUBMITTED)
    client.force_login(alice)
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "No calls yet" in page and "0 / 0" in page


# ---- actions ------------------------------------------------------------------------

def post(client, name, run):
    return client.post(reverse(f"workflows:run_{name}", args=[run.pk]))


def test_alice_aborts_a_running_run_and_it_is_audited(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 2, status=Call.Status.QUEUED)
    client.force_login(alice)
    response = post(client, "abort", run)
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == Run.Status.ABORTING
    assert set(run.calls.values_list("status", flat=True)) == {Call.Status.ABORTED}
    assert AuditEvent.objects.filter(action="abort", target=f"run {run.pk}", user=alice).exists()
    assert "Aborting" in client.get(response["Location"]).content.decode()


def test_aborting_an_ended_run_says_so(client, alice, workflow):
    run = make_run(workflow, alice)
    client.force_login(alice)
    page = client.post(reverse("workflows:run_abort", args=[run.pk]), follow=True).content.decode()
    assert "already ended" in page
    assert not AuditEvent.objects.filter(action="abort").exists()


def test_relaunch_submits_the_same_inputs_again(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.ABORTED, labels={"a": "b"}, inputs={"hello.n": 5})
    client.force_login(alice)
    response = post(client, "relaunch", run)
    new = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("workflows:run_detail", args=[new.pk])
    assert (new.inputs, new.labels, new.relaunch_of_id, new.submitted_by) == ({"hello.n": 5}, {"a": "b"}, run.pk, alice)
    assert AuditEvent.objects.filter(action="relaunch", target=f"run {new.pk}").exists()


def test_retry_is_refused_for_a_run_that_did_not_fail(client, alice, workflow):
    run = make_run(workflow, alice)
    client.force_login(alice)
    page = client.post(reverse("workflows:run_retry", args=[run.pk]), follow=True).content.decode()
    assert "only a failed run&#x27;s calls can be retried" in page
    assert not AuditEvent.objects.filter(action="retry").exists()


def test_retry_requeues_only_the_failed_calls_of_a_failed_run(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.FAILED)
    Run.objects.filter(pk=run.pk).update(failures=[{"message": "x failed", "causedBy": []}])
    make_calls(run, 2)
    make_calls(run, 1, status=Call.Status.FAILED, fqn="hello.align")
    Call.objects.create(run=run, team=run.team, project=run.project, backend=run.backend, call_id="call-later",
                        fqn="hello.later", task="later", status=Call.Status.ABORTED)
    client.force_login(alice)
    assert post(client, "retry", run).status_code == 302
    run.refresh_from_db()
    assert (run.status, run.failures, run.ended) == (Run.Status.RUNNING, [], None)
    rows = set(run.calls.values_list("fqn", "attempt", "status"))
    assert rows == {("hello.greet", 1, "succeeded"), ("hello.align", 1, "retried"), ("hello.align", 2, "queued"),
                    ("hello.later", 1, "queued")}
    assert run.calls.get(fqn="hello.align", attempt=2).call_dir.endswith("/call-align/shard-0/attempt-2")
    assert AuditEvent.objects.get(action="retry").details["retried"] == 1


@pytest.mark.parametrize("action", ["abort", "relaunch", "retry", "cleanup"])
def test_bob_the_viewer_sees_no_actions_and_gets_403_on_a_forged_post(client, bob, alice, workflow, action):
    run = make_run(workflow, alice, status=Run.Status.FAILED if action != "abort" else Run.Status.RUNNING)
    make_calls(run, 1, status=Call.Status.FAILED)
    client.force_login(bob)
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "hello" in page and 'id="run-actions"' not in page
    assert post(client, action, run).status_code == 403
    assert Run.objects.count() == 1
    assert not AuditEvent.objects.exclude(action="submit").exists()


@pytest.mark.parametrize("action", ["abort", "relaunch", "retry", "cleanup"])
def test_a_scientist_acts_on_her_own_runs_only(client, alice, dave, workflow, action):
    status = Run.Status.RUNNING if action == "abort" else Run.Status.FAILED
    alices = make_run(workflow, alice, status=status)
    daves = make_run(workflow, dave, status=status)
    for run in (alices, daves):
        make_calls(run, 1, status=Call.Status.FAILED)
    client.force_login(dave)
    assert 'id="run-actions"' not in client.get(reverse("workflows:run_detail", args=[alices.pk])).content.decode()
    assert post(client, action, alices).status_code == 403
    assert 'id="run-actions"' in client.get(reverse("workflows:run_detail", args=[daves.pk])).content.decode()
    assert post(client, action, daves).status_code == 302
    alices.refresh_from_db()
    daves.refresh_from_db()
    done = {
        "abort": lambda run: run.status in (Run.Status.ABORTING, Run.Status.ABORTED),
        "relaunch": lambda run: Run.objects.filter(relaunch_of=run).exists(),
        "retry": lambda run: run.status == Run.Status.RUNNING,
        "cleanup": lambda run: run.cleaned_up is not None,
    }[action]
    assert done(daves) and not done(alices)


def test_actions_are_post_only(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    client.force_login(alice)
    for action in ("abort", "relaunch", "retry"):
        assert client.get(reverse(f"workflows:run_{action}", args=[run.pk])).status_code == 405
    assert Run.objects.get().status == Run.Status.RUNNING


def test_carol_gets_404_on_every_run_page_and_action_of_alices_team(client, carol, other_team, alice, team, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 1)
    call = run.calls.get()
    client.force_login(carol)
    for url in [list_url(team), reverse("teams:slots", args=[team.slug])] + [
            reverse(f"workflows:run_{name}", args=[run.pk]) for name in ("detail", "live", "timeline", "cleanup")] + [
            reverse(f"workflows:call_log{suffix}", args=[call.pk, "stdout"]) for suffix in ("", "_tail", "_download")]:
        assert client.get(url).status_code == 404, url
    for name in ("abort", "relaunch", "retry", "cleanup"):
        assert post(client, name, run).status_code == 404
    assert Run.objects.get().status == Run.Status.RUNNING and Run.objects.count() == 1
    assert client.get(reverse("workflows:run_detail", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_error_pages_are_batchsites_own_and_say_why(client, bob, alice, workflow, settings):
    settings.DEBUG = False
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    client.force_login(bob)
    forbidden = client.post(reverse("workflows:run_abort", args=[run.pk])).content.decode()
    assert "Viewers can look but not act." in forbidden and "Back to your teams" in forbidden
    missing = client.get("/runs/00000000-0000-0000-0000-000000000000/").content.decode()
    assert "There is nothing here" in missing and "Traceback" not in missing


def test_the_live_part_keeps_the_page_and_filter_it_shows(client, alice, workflow):
    run = make_run(workflow, alice, status=Run.Status.RUNNING)
    make_calls(run, 150, status=Call.Status.RUNNING)
    client.force_login(alice)
    page = client.get(reverse("workflows:run_detail", args=[run.pk]) + "?status=running&page=2").content.decode()
    assert f'hx-get="{reverse("workflows:run_live", args=[run.pk])}?status=running&amp;page=2"' in page
    live = client.get(reverse("workflows:run_live", args=[run.pk]) + "?status=running&page=2",
                      headers={"HX-Request": "true"}).content.decode()
    assert live.count('class="call-row"') == 50 and "Page 2 of 2" in live


def test_the_timeline_cuts_a_retried_runs_pause_down_to_a_break(client, alice, workflow):
    from workflows.selectors import run_timeline

    run = make_run(workflow, alice)
    start = run.submitted
    at = lambda seconds: start + dt.timedelta(seconds=seconds)  # noqa: E731
    Run.objects.filter(pk=run.pk).update(started=at(0), ended=at(3 * 3600 + 20), pauses=[[at(20).isoformat(), at(3 * 3600).isoformat()]])
    for attempt, status, offset in [(1, "retried", 0), (2, "succeeded", 3 * 3600)]:
        call = Call.objects.create(run=run, team=run.team, project=run.project, backend=run.backend, call_id="call-greet",
                                   fqn="hello.greet", task="greet", attempt=attempt, status=status)
        Call.objects.filter(pk=call.pk).update(queued=at(offset), started=at(offset + 1), ended=at(offset + 19))
    run.refresh_from_db()
    timeline = run_timeline(run=run, now=at(3 * 3600 + 20))
    assert len(timeline.breaks) == 1 and timeline.breaks[0].seconds == 3 * 3600 - 20
    assert timeline.seconds == 40  # the work on either side, to scale
    first, second = timeline.bars
    assert first.run_left + first.run_width < timeline.breaks[0].left < second.run_left
    assert first.run_width == second.run_width > 40  # each 18 s of the 40 drawn, less the break's 5 %
    assert [label for _, label in timeline.ticks][:2] == ["0s", "5s"]
    assert run.working_time == dt.timedelta(seconds=40)
    client.force_login(alice)
    page = client.get(reverse("workflows:run_timeline", args=[run.pk])).content.decode()
    assert "tl-break" in page and "3 h 00 m" not in page and "2 h 59 m" in page and "not to scale" in page
