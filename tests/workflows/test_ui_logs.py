"""A call's logs: the whole log once it ended, a live tail with a cursor while it runs, the download."""
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.workflows.ui_factories import hello_workflow, make_calls, make_run
from workflows.models import Call, Run


@pytest.fixture
def call(project, alice):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    make_calls(run, 1, status=Call.Status.RUNNING)
    call = run.calls.get()
    (Path(call.call_dir) / "execution").mkdir(parents=True)
    return call


def write(call, stream: str, text: str, mode="a") -> None:
    with open(Path(call.call_dir) / "execution" / stream, mode) as f:
        f.write(text)


def url(name, call, stream="stdout", **params):
    from urllib.parse import urlencode

    return reverse(f"workflows:{name}", args=[call.pk, stream]) + (f"?{urlencode(params)}" if params else "")


def test_a_running_calls_log_page_shows_what_it_wrote_and_polls_from_there(client, alice, call):
    write(call, "stdout", "line one\nline two\npartial")
    client.force_login(alice)
    page = client.get(url("call_log", call)).content.decode()
    assert "line one\nline two\n" in page and "partial" not in page  # a partial line waits for its end
    assert url("call_log_tail", call, offset=18) in page and 'hx-trigger="every 1s"' in page


def test_the_run_pages_call_rows_link_each_calls_two_logs(client, alice, call):
    Call.objects.filter(pk=call.pk).update(backend_job_id="job-1")
    client.force_login(alice)
    page = client.get(reverse("workflows:run_detail", args=[call.run_id])).content.decode()
    assert f'href="{url("call_log", call)}">stdout</a>' in page
    assert f'href="{url("call_log", call, "stderr")}">stderr</a>' in page


def test_the_tail_sends_only_what_is_new_since_the_cursor(client, alice, call):
    write(call, "stdout", "line one\nline two\n")
    client.force_login(alice)
    nothing_new = client.get(url("call_log_tail", call, offset=18)).content.decode()
    assert "line" not in nothing_new and url("call_log_tail", call, offset=18) in nothing_new
    write(call, "stdout", "line three\nline fo")
    tail = client.get(url("call_log_tail", call, offset=18)).content.decode()
    assert '<span hx-swap-oob="beforeend:#log-text">line three\n</span>' in tail
    assert "line one" not in tail and "line fo" not in tail
    assert url("call_log_tail", call, offset=29) in tail


def test_the_tail_stops_polling_and_sends_the_rest_once_the_job_ended(client, alice, call):
    write(call, "stdout", "line one\nno newline at the end")
    Call.objects.filter(pk=call.pk).update(status=Call.Status.SUCCEEDED, return_code=0)
    client.force_login(alice)
    tail = client.get(url("call_log_tail", call, offset=9)).content.decode()
    assert "no newline at the end" in tail and "hx-trigger" not in tail
    assert "The job ended (succeeded, rc 0)" in tail


def test_an_ended_calls_page_shows_the_whole_log_and_stderr(client, alice, call):
    write(call, "stdout", "out\n")
    write(call, "stderr", "warning: low memory\nlast words")
    Call.objects.filter(pk=call.pk).update(status=Call.Status.FAILED, return_code=3)
    client.force_login(alice)
    page = client.get(url("call_log", call, "stderr")).content.decode()
    assert "warning: low memory\nlast words" in page and "hx-trigger" not in page
    assert "The job ended (failed, rc 3)" in page
    assert ">stdout</a>" in page and url("call_log_download", call, "stderr") in page


def test_an_empty_log_says_so(client, alice, call):
    Call.objects.filter(pk=call.pk).update(status=Call.Status.SUCCEEDED, return_code=0)
    client.force_login(alice)
    assert "Nothing was written to stderr" in client.get(url("call_log", call, "stderr")).content.decode()


def test_the_download_is_the_whole_log_as_a_file(client, alice, call):
    text = "".join(f"line {i}\n" for i in range(60_000))  # more than one read of the backend
    write(call, "stdout", text, mode="w")
    client.force_login(alice)
    response = client.get(url("call_log_download", call))
    assert b"".join(response.streaming_content).decode() == text
    assert response["Content-Disposition"] == 'attachment; filename="hellogreet-shard0-attempt1-stdout.txt"'


def test_a_long_finished_log_shows_its_first_part_and_points_to_the_download(client, alice, call):
    write(call, "stdout", "x" * 99 + "\n", mode="w")
    write(call, "stdout", ("y" * 99 + "\n") * 11_000)
    Call.objects.filter(pk=call.pk).update(status=Call.Status.SUCCEEDED, return_code=0)
    client.force_login(alice)
    page = client.get(url("call_log", call)).content.decode()
    assert "shows the first part of the log" in page
    assert len(page) < 1_200_000


def test_an_unknown_stream_is_404_and_a_bad_cursor_is_400(client, alice, call):
    client.force_login(alice)
    assert client.get(url("call_log", call, "passwd")).status_code == 404
    assert client.get(url("call_log", call, "log")).status_code == 404  # CloudWatch streams are AWS Batch's
    assert client.get(url("call_log_tail", call, offset="-5")).status_code == 400
    assert client.get(url("call_log_tail", call, offset="abc")).status_code == 400


def test_bob_the_viewer_reads_logs(client, bob, call):
    write(call, "stdout", "visible to the team\n")
    client.force_login(bob)
    assert "visible to the team" in client.get(url("call_log", call)).content.decode()


def test_carol_gets_404_on_every_log_page(client, carol, other_team, call):
    write(call, "stdout", "secret\n")
    client.force_login(carol)
    for name in ("call_log", "call_log_tail", "call_log_download"):
        response = client.get(url(name, call))
        assert response.status_code == 404
        assert b"secret" not in response.content


def test_the_log_of_a_cleaned_up_run_says_where_it_went(client, alice, call):
    Call.objects.filter(pk=call.pk).update(status=Call.Status.SUCCEEDED, return_code=0)
    Run.objects.filter(pk=call.run_id).update(cleaned_up=timezone.now(), cleaned_up_by=alice)
    client.force_login(alice)
    assert "The run was cleaned up" in client.get(url("call_log", call)).content.decode()


def test_a_cleaned_up_runs_logs_answer_gone_to_the_team_and_404_to_an_outsider(client, alice, carol, other_team, call):
    write(call, "stdout", "kept only on disk\n")
    Call.objects.filter(pk=call.pk).update(status=Call.Status.SUCCEEDED, return_code=0)
    Run.objects.filter(pk=call.run_id).update(cleaned_up=timezone.now(), cleaned_up_by=alice)
    client.force_login(alice)
    page = client.get(url("call_log", call)).content.decode()
    assert "its logs were deleted" in page and "kept only on disk" not in page
    assert "whole log" not in page and url("call_log_download", call) not in page
    for name in ("call_log_tail", "call_log_download"):
        response = client.get(url(name, call))
        assert response.status_code == 410 and b"cleaned up" in response.content and b"kept only" not in response.content
    client.force_login(carol)
    for name in ("call_log", "call_log_tail", "call_log_download"):
        assert client.get(url(name, call)).status_code == 404
