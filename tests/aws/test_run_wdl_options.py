"""run_wdl -o with Cromwell's workflow options on AWS Batch: the operator's own team, and --team's guards."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workflows.models import Run

MY_JOB_ROLE = "arn:aws:iam::123456789012:role/MyJobRole"  # Cromwell's documented example
HELLO = "version 1.0\nworkflow hello { call greet output { String out = greet.out } }\n" \
        "task greet { command <<< echo hello >>> output { String out = read_string(stdout()) } }\n"


def files(tmp_path):
    wdl, options = tmp_path / "workflow.wdl", tmp_path / "workflow_options.json"
    wdl.write_text(HELLO)
    options.write_text(json.dumps({"aws_batch_job_role_arn": MY_JOB_ROLE}))
    return str(wdl), str(options)


@pytest.mark.django_db(transaction=True)
def test_run_wdl_puts_the_options_role_on_the_job_like_cromwell_run(aws, tmp_path):
    wdl, options = files(tmp_path)
    out = io.StringIO()

    call_command("run_wdl", wdl, "-o", options, "--poll", "0.05", stdout=out, stderr=io.StringIO())

    assert json.loads(out.getvalue()) == {"hello.out": "hello"}
    assert Run.objects.get().job_role_arn == MY_JOB_ROLE
    [registered] = aws.emulator.calls("registerjobdefinition")
    assert registered["containerProperties"]["jobRoleArn"] == MY_JOB_ROLE
    [job] = aws.emulator.calls("submitjob")
    [definition] = aws.batch.describe_job_definitions(jobDefinitions=[job["jobDefinition"]])["jobDefinitions"]
    assert definition["containerProperties"]["jobRoleArn"] == MY_JOB_ROLE  # as moto stored it


@pytest.mark.django_db(transaction=True)
def test_run_wdl_refuses_a_role_that_is_not_well_formed_even_for_its_own_team(aws, tmp_path):
    wdl, options = files(tmp_path)
    (tmp_path / "workflow_options.json").write_text(json.dumps({"aws_batch_job_role_arn": "MyJobRole"}))

    with pytest.raises(CommandError, match="aws_batch_job_role_arn: 'MyJobRole' is not an IAM role ARN"):
        call_command("run_wdl", wdl, "-o", options, stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_team_a_role_off_the_teams_allowlist_is_refused(aws, tmp_path, project):
    wdl, options = files(tmp_path)

    with pytest.raises(CommandError, match=f"role {MY_JOB_ROLE} is not on team genomics's allowlist"):
        call_command("run_wdl", wdl, "--options", options, "--team", "genomics", "--project", "exomes",
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert not Run.objects.exists() and aws.emulator.calls("submitjob") == []


@pytest.mark.django_db(transaction=True)
def test_team_without_project_is_a_clear_error(aws, tmp_path, project):
    wdl, options = files(tmp_path)

    with pytest.raises(CommandError, match="--team genomics needs --project"):
        call_command("run_wdl", wdl, "--team", "genomics", stdout=io.StringIO(), stderr=io.StringIO())
