"""Every error in the right shape: JSON 500s under the API, and NUL, over-long and out-of-range values refused by field."""
import json
import logging

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from teams.models import ApiToken
from tests.api.conftest import HELLO, submit, upload
from workflows.models import Run, Workflow, WorkflowVersion


@pytest.mark.urls("tests.api.boom_urls")
def test_an_unexpected_error_under_the_api_is_cromwells_json_500_and_is_logged(client, alice_auth, caplog):
    with caplog.at_level(logging.ERROR, logger="batchsite.api"):
        response = client.get("/api/workflows/v1/boom", **alice_auth)
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "error" and "GET /api/workflows/v1/boom" in body["message"]
    assert "deep in a view" not in body["message"]  # the details are for the operators' log
    record = next(r for r in caplog.records if r.name == "batchsite.api")
    assert record.exc_info and "an unexpected failure deep in a view" in str(record.exc_info[1])


@pytest.mark.urls("tests.api.boom_urls")
def test_an_unexpected_error_on_a_page_keeps_the_html_500(alice):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    response = client.get("/boom/")
    assert response.status_code == 500 and response["Content-Type"].startswith("text/html")


def test_the_500_handler_answers_json_under_the_api_and_html_elsewhere():
    from batchsite.urls import handler500

    api = handler500(RequestFactory().get("/engine/v1/status"))
    assert api.status_code == 500 and json.loads(api.content)["status"] == "error"
    page = handler500(RequestFactory().get("/teams/x/runs/"))
    assert page.status_code == 500 and b"<" in page.content


def test_a_nul_in_a_wdl_input_default_is_refused_naming_the_source(client, alice_auth, alice, project):
    wdl = b'version 1.0\nworkflow w {\n  input { String s = "a\x00b" }\n}\n'
    response = submit(client, alice_auth, wdl)
    assert response.status_code == 400 and "hello.wdl:3: holds a NUL character" in response.json()["message"]
    client.force_login(alice)
    url = reverse("workflows:create", args=[project.team.slug, project.slug])
    page = client.post(url, {"name": "W", "source": upload(wdl, "w.wdl")})
    assert page.status_code == 400 and "w.wdl:3: holds a NUL character" in page.content.decode()
    assert not Workflow.objects.exists() and not WorkflowVersion.objects.exists()


@pytest.mark.parametrize("name", ["laptop\x00", "a\x07bell", "x" * 101])
def test_a_token_name_with_a_nul_a_control_character_or_too_long_is_400(client, alice, name):
    client.force_login(alice)
    response = client.post(reverse("tokens"), {"name": name})
    assert response.status_code == 400 and "token name" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("inputs, problem", [
    ('{"hello.who": "\\ud800"}', "hello.who: is not valid Unicode text"),
    ('{"hello.who": NaN}', "hello.who: nan is not a finite number"),
    ('{"hello.who": 1e999}', "hello.who: inf is not a finite number"),
    ('{"hello.who": ' + "1" * 30 + "}", "is out of range (a 64-bit integer)"),
    ('{"hello.who": ' + "1" * 5000 + "}", "workflowInputs is not valid JSON"),
    ('{"hello.who": ' + "[" * 100 + "]" * 100 + "}", "is nested more than 64 levels deep"),
    ('{"hello.who": ' + "[" * 5000 + "]" * 5000 + "}", "workflowInputs is nested too deeply"),
    ('{"hello.who\\u0000": "x"}', "the key contains a NUL character"),
])
def test_unstorable_inputs_are_400_naming_the_input(client, alice_auth, inputs, problem):
    response = submit(client, alice_auth, HELLO, workflowInputs=upload(inputs.encode(), "i.json"))
    assert response.status_code == 400 and problem in response.json()["message"], response.json()
    assert not Run.objects.exists()


@pytest.mark.parametrize("part, value, problem", [
    ("workflowOptions", '{"x": NaN}', "workflowOptions: x: nan is not a finite number"),
    ("labels", '{"batchsite-project": 3}', "batchsite-project must be a string"),
    ("labels", '{"k": "\\u0000"}', "contains a NUL character"),
    ("workflowInputs_99999999999", "{}", "is not an integer"),
])
def test_unstorable_options_and_labels_are_400(client, alice_auth, part, value, problem):
    response = submit(client, alice_auth, HELLO, **{part: upload(value.encode(), "p.json")})
    assert response.status_code == 400 and problem in response.json()["message"], response.json()


def test_the_forms_json_fields_refuse_what_cannot_be_stored_by_field(client, alice, project):
    from tests.workflows.ui_factories import field_block, hello_workflow

    workflow = hello_workflow(project, alice)
    client.force_login(alice)
    url = reverse("workflows:launch", args=[workflow.pk])
    response = client.post(url, {"hello.n": "99999999999999999999", "hello.tags": '["\\u0000"]',
                                 "hello.counts": '{"x": ' + "1" * 5000 + "}", "labels": "k=\x00"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "9223372036854775807" in field_block(page, "hello.n")
    assert "[0]: contains a NUL character" in field_block(page, "hello.tags")
    assert "not valid JSON" in field_block(page, "hello.counts")
    assert "Null characters are not allowed" in field_block(page, "labels")
    assert not Run.objects.exists()


@pytest.mark.parametrize("offset", ["99999999999999999999999", "²", str(2 ** 40 + 1), "-1", "a b"])
def test_an_out_of_range_log_offset_is_400_in_the_api_and_the_page(client, alice, alice_auth, offset):
    from tests.runs import Eager, drive

    with Eager():
        run = drive(Run.objects.get(pk=submit(client, alice_auth, HELLO).json()["id"]))
    call = run.calls.get()
    api = client.get(f"/api/workflows/v1/{run.pk}/calls/{call.pk}/log", {"offset": offset}, **alice_auth)
    assert api.status_code == 400 and "offset" in api.json()["message"]
    client.force_login(alice)
    page = client.get(reverse("workflows:call_log_tail", args=[call.pk, "stdout"]), {"offset": offset})
    assert page.status_code == 400 and b"offset" in page.content
    assert client.get(reverse("workflows:call_log_tail", args=[call.pk, "stdout"]), {"offset": "3"}).status_code == 200


@pytest.mark.parametrize("params", [{"status": "\x00"}, {"call": "x\x00"}, {"status": "sleeping"}, {"call": "c" * 501}])
def test_bad_call_filters_on_a_run_page_are_400(client, alice, alice_auth, params):
    run_id = submit(client, alice_auth, HELLO, workflowOnHold="true").json()["id"]
    client.force_login(alice)
    for name in ("run_detail", "run_live"):
        assert client.get(reverse(f"workflows:{name}", args=[run_id]), params).status_code == 400


@pytest.mark.parametrize("url", ["/api/workflows/v1", "/api/workflows/v1/batch"])
def test_an_empty_array_of_inputs_is_400(client, alice_auth, url):
    response = submit(client, alice_auth, HELLO, [], url=url)
    assert response.status_code == 400 and "empty array" in response.json()["message"]
    assert not Run.objects.exists()


def test_a_file_part_over_the_largest_part_is_413_before_it_is_read(client, alice_auth, monkeypatch):
    import workflows.api.forms

    monkeypatch.setattr(workflows.api.forms, "MAX_PART_BYTES", 100)
    response = submit(client, alice_auth, HELLO)
    assert response.status_code == 413 and "The part workflowSource is" in response.json()["message"]


def test_describe_refuses_inputs_over_the_sites_limit(client, alice_auth, settings):
    settings.BATCHSITE_DEFAULT_LIMITS = {**settings.BATCHSITE_DEFAULT_LIMITS, "max_input_bytes_per_run": 10}
    body = client.post("/api/womtool/v1/describe", {"workflowSource": upload(HELLO, "hello.wdl"),
                                                    "workflowInputs": upload({"hello.who": "a long name"}, "i.json")},
                       **alice_auth).json()
    assert not body["valid"] and "at most 10 are allowed" in body["errors"][0]
