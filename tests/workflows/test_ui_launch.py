"""The launch form: one field per WDL input, options and labels; every bad value is refused by its field."""
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from teams.models import AuditEvent, Membership
from teams.services import membership_set, user_create
from tests.conftest import ALICE_ROLE_2, CAROL_ROLE
from tests.workflows.ui_factories import field_block, hello_workflow
from workflows.models import Run


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


def launch_url(workflow, version=None):
    url = reverse("workflows:launch", args=[workflow.pk])
    return f"{url}?version={version}" if version else url


def valid(**changes):
    data = {"hello.n": "3", "hello.ratio": "0.5", "hello.loud": "false", "hello.who": "world",
            "hello.tags": '["a"]', "hello.counts": '{"x": 1}', "aws_batch_job_role_arn": "",
            "aws_batch_script_bucket_prefix": "", "labels": ""}
    data.update(changes)
    return data


def test_the_form_has_a_field_per_input_with_its_type_default_and_whether_it_is_required(client, alice, workflow):
    client.force_login(alice)
    page = client.get(launch_url(workflow)).content.decode()
    n = field_block(page, "hello.n")
    assert 'type="number"' in n and ">Int<" in n and "required" in n
    assert 'value="world"' in field_block(page, "hello.who")
    assert 'value="0.5"' in field_block(page, "hello.ratio")
    assert '<option value="false" selected>' in field_block(page, "hello.loud")
    assert "[&quot;a&quot;]" in field_block(page, "hello.tags")
    reference = field_block(page, "hello.reference")
    assert "(optional)" in reference and "s3://bucket/key" in reference
    assert "JSON object" in field_block(page, "hello.sample")
    assert "Inputs of calls (1)" in page and 'value="!"' in field_block(page, "hello.greet.punct")
    assert ALICE_ROLE_2 in page and "teams/genomics/" in page


def test_alice_launches_a_run_from_the_generated_form(client, alice, workflow):
    client.force_login(alice)
    response = client.post(launch_url(workflow), valid(**{
        "hello.n": "7", "hello.loud": "true", "hello.reference": "s3://refs-bucket/hg38.fa",
        "hello.sample": '{"name": "NA12878", "reads": 10}', "hello.greet.punct": "?",
        "aws_batch_job_role_arn": ALICE_ROLE_2, "aws_batch_script_bucket_prefix": "teams/genomics/exomes/",
        "labels": "sample=NA12878\nbatch = 7\n",
    }))
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("workflows:run_detail", args=[run.pk])
    assert run.inputs["hello.n"] == 7 and run.inputs["hello.loud"] is True
    assert run.inputs["hello.sample"] == {"name": "NA12878", "reads": 10}
    assert run.inputs["hello.reference"] == "s3://refs-bucket/hg38.fa" and run.inputs["hello.greet.punct"] == "?"
    assert (run.job_role_arn, run.script_prefix) == (ALICE_ROLE_2, "teams/genomics/exomes/")
    assert run.labels == {"sample": "NA12878", "batch": "7"}
    assert run.submitted_by == alice
    assert AuditEvent.objects.filter(action="submit", target=f"run {run.pk}").exists()


def test_empty_optional_fields_are_left_out_so_the_wdl_defaults_apply(client, alice, workflow):
    client.force_login(alice)
    client.post(launch_url(workflow), {"hello.n": "2"})
    run = Run.objects.get()
    assert run.inputs == {"hello.n": 2}
    assert (run.job_role_arn, run.script_prefix) == ("arn:aws:iam::111111111111:role/alice-team-jobs", "teams/genomics/")


@pytest.mark.parametrize("changes, field, message", [
    ({"hello.n": "abc"}, "hello.n", "an Int is a whole number"),
    ({"hello.n": ""}, "hello.n", "required input is missing"),
    ({"hello.ratio": "half"}, "hello.ratio", "a Float is a number"),
    ({"hello.tags": '["a", '}, "hello.tags", "not valid JSON: Expecting value at line 1 column 7"),
    ({"hello.tags": '{"a": 1}'}, "hello.tags", "must be a JSON array"),
    ({"hello.tags": "[[1]]"}, "hello.tags", "couldn&#x27;t construct"),
    ({"hello.sample": '{"nam": "x"}'}, "hello.sample", "omits required field(s): &#x27;name&#x27;"),
    ({"hello.reference": "hg38.fa"}, "hello.reference", "s3://bucket/key URI or an absolute local path"),
    ({"aws_batch_job_role_arn": CAROL_ROLE}, "aws_batch_job_role_arn", "Select a valid choice"),
    ({"aws_batch_script_bucket_prefix": "teams/proteomics/"}, "aws_batch_script_bucket_prefix",
     "is not under team genomics&#x27;s prefix root"),
    ({"aws_batch_script_bucket_prefix": "teams/genomics/../x/"}, "aws_batch_script_bucket_prefix", "must not contain"),
    ({"labels": "sample NA12878"}, "labels", "line 1: &#x27;sample NA12878&#x27; is not key=value"),
    ({"labels": "a=1\na=2"}, "labels", "line 2: label &#x27;a&#x27; is given twice"),
    ({"labels": "k" * 300 + "=v"}, "labels", "must be 1 to 255 characters"),
])
def test_a_bad_value_is_shown_by_its_field_and_nothing_is_written(client, alice, workflow, changes, field, message):
    client.force_login(alice)
    response = client.post(launch_url(workflow), valid(**changes))
    assert response.status_code == 400
    page = response.content.decode()
    assert message in field_block(page, field), field_block(page, field)
    assert "Traceback" not in page
    assert not Run.objects.exists() and not AuditEvent.objects.filter(action="submit").exists()


def test_a_refused_form_keeps_what_was_typed(client, alice, workflow):
    client.force_login(alice)
    page = client.post(launch_url(workflow), valid(**{"hello.n": "abc", "labels": "keep=me"})).content.decode()
    assert 'value="abc"' in field_block(page, "hello.n") and "keep=me" in field_block(page, "labels")


def inputs_file(content: str):
    return SimpleUploadedFile("inputs.json", content.encode(), content_type="application/json")


def test_an_uploaded_inputs_json_replaces_the_fields(client, alice, workflow):
    client.force_login(alice)
    response = client.post(launch_url(workflow), {
        "hello.n": "not looked at", "inputs_file": inputs_file(json.dumps({"hello.n": 11, "hello.who": "file"})),
    })
    assert response.status_code == 302
    assert Run.objects.get().inputs == {"hello.n": 11, "hello.who": "file"}


@pytest.mark.parametrize("content, message", [
    ('{"hello.n": ', "the inputs are not valid JSON: Expecting value at line 1 column 13"),
    ("[1, 2]", "the inputs must be a JSON object"),
    ('{"hello.n": "x"}', "hello.n: couldn&#x27;t construct &#x27;Int&#x27;"),
    ('{"hello.nosuch": 1, "hello.n": 1}', "hello.nosuch: unknown input"),
    ("{}", "hello.n: required input is missing"),
])
def test_a_bad_inputs_json_upload_is_shown_by_the_file_field(client, alice, workflow, content, message):
    client.force_login(alice)
    response = client.post(launch_url(workflow), {"inputs_file": inputs_file(content)})
    assert response.status_code == 400
    assert message in field_block(response.content.decode(), "inputs_file")
    assert not Run.objects.exists()


def test_a_full_queue_is_shown_above_the_form(client, alice, workflow, team):
    from tests.workflows.ui_factories import make_calls, make_run

    team.max_queued_jobs = 2
    team.save()
    make_calls(make_run(workflow, alice, status=Run.Status.RUNNING), 2, status="queued")
    client.force_login(alice)
    response = client.post(launch_url(workflow), valid())
    assert response.status_code == 400
    assert "already has 2 calls waiting" in response.content.decode()
    assert Run.objects.count() == 1


def test_an_older_version_can_be_launched(client, alice, workflow):
    from workflows.services import workflow_version_create

    workflow_version_create(workflow=workflow, source=b'version 1.0\nworkflow hello { input { String x } }\n',
                            filename="hello.wdl", user=alice)
    client.force_login(alice)
    assert 'name="hello.x"' in client.get(launch_url(workflow)).content.decode()
    assert 'name="hello.n"' in client.get(launch_url(workflow, 1)).content.decode()
    client.post(launch_url(workflow, 1), {"hello.n": "1"})
    assert Run.objects.get().version.number == 1
    assert client.get(launch_url(workflow, 9)).status_code == 404


def test_a_scientist_can_launch(client, team, workflow):
    dave = user_create(username="dave", password="pw-dave")
    membership_set(team=team, user=dave, role=Membership.Role.SCIENTIST)
    client.force_login(dave)
    assert client.post(launch_url(workflow), valid()).status_code == 302
    assert Run.objects.get().submitted_by == dave


def test_bob_the_viewer_cannot_launch(client, bob, workflow):
    client.force_login(bob)
    assert "Launch" not in client.get(reverse("workflows:detail", args=[workflow.pk])).content.decode()
    assert client.get(launch_url(workflow)).status_code == 403
    assert client.post(launch_url(workflow), valid()).status_code == 403
    assert not Run.objects.exists()


def test_carol_gets_404_on_the_launch_form(client, carol, other_team, workflow):
    client.force_login(carol)
    assert client.get(launch_url(workflow)).status_code == 404
    assert client.post(launch_url(workflow), valid()).status_code == 404
    assert not Run.objects.exists()
