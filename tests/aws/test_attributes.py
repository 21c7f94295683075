"""Cromwell's AWS runtime attributes and the cost tags, as AWS Batch (moto behind the emulator) receives them."""
import pytest
from django.core.exceptions import ValidationError

from workflows.models import Call
from workflows.services import run_advance, run_submit, team_dispatch, workflow_create

ATTRIBUTES = """
    awsBatchRetryAttempts: 3
    awsBatchEvaluateOnExit: [{"action": "RETRY", "onStatusReason": "Host EC2*"}, {"action": "exit", "onExitCode": "1"}]
    jobTimeout: 3600
    ulimits: [{"name": "nofile", "softLimit": "1024", "hardLimit": "4096"}]
    sharedMemorySize: 512
    disks: "local-disk 100 SSD, /scratch 50 HDD"
    gpuCount: 2
    queueArn: "%(queue)s"
    logGroupName: "/batchsite/genomics"
    additionalTags: {"Sample": "NA12878"}
    tagResources: true
"""


def wdl(runtime: str) -> bytes:
    return ("version 1.0\nworkflow w { call t }\ntask t {\n  command <<< echo hi >>>\n"
            f"  runtime {{{runtime}  }}\n  output {{ String out = read_string(stdout()) }}\n}}\n").encode()


def submit(project, user, source: bytes, name: str = "attrs"):
    version = workflow_create(project=project, name=name, source=source).versions.get()
    run = run_submit(version=version, user=user, inputs={}, options={})
    run_advance(run_id=run.pk)
    team_dispatch(team_id=project.team_id)
    return run, Call.objects.get(run=run)


@pytest.fixture
def gpu_queue(aws):
    environment = aws.batch.describe_compute_environments()["computeEnvironments"][0]["computeEnvironmentArn"]
    return aws.batch.create_job_queue(jobQueueName="gpu-queue", state="ENABLED", priority=2,
                                      computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}])["jobQueueArn"]


@pytest.mark.django_db
def test_every_attribute_reaches_the_job_and_its_definition(aws, eager, project, alice, gpu_queue):
    aws.emulator.run_jobs = False
    project.team.cost_tags = {"CostCenter": "CC-42"}
    project.team.save()

    run, call = submit(project, alice, wdl(ATTRIBUTES % {"queue": gpu_queue}))

    assert call.status == Call.Status.SUBMITTED, call.failure
    [registered] = aws.emulator.calls("registerjobdefinition")
    assert registered["retryStrategy"] == {"attempts": 3, "evaluateOnExit": [
        {"action": "RETRY", "onStatusReason": "Host EC2*"}, {"action": "EXIT", "onExitCode": "1"}]}
    assert registered["timeout"] == {"attemptDurationSeconds": 3600}
    assert registered["propagateTags"] is True and registered["tags"]["Sample"] == "NA12878"
    properties = registered["containerProperties"]
    assert properties["ulimits"] == [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]
    assert properties["linuxParameters"] == {"sharedMemorySize": 512}
    container_root = str(aws.backend.container_root)
    assert {"name": "disk-0", "host": {"sourcePath": container_root}} in properties["volumes"]
    assert {"name": "disk-1", "host": {"sourcePath": "/scratch"}} in properties["volumes"]
    assert {"sourceVolume": "disk-1", "containerPath": "/scratch", "readOnly": False} in properties["mountPoints"]
    assert properties["logConfiguration"] == {"logDriver": "awslogs", "options": {"awslogs-group": "/batchsite/genomics"}}
    # moto keeps what it received
    [stored] = aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]
    assert stored["retryStrategy"]["attempts"] == 3 and stored["timeout"] == {"attemptDurationSeconds": 3600}
    assert stored["containerProperties"]["linuxParameters"] == {"sharedMemorySize": 512}

    [job] = aws.emulator.calls("submitjob")
    assert job["jobQueue"] == gpu_queue and job["propagateTags"] is True
    assert {"type": "GPU", "value": "2"} in job["containerOverrides"]["resourceRequirements"]
    assert job["tags"] == {
        "CostCenter": "CC-42", "Sample": "NA12878", "batchsite:team": "genomics", "batchsite:project": "exomes",
        "batchsite:workflow": "attrs", "batchsite:run": str(run.pk), "batchsite:call": "call-t/attempt-1"}
    [described] = aws.batch.describe_jobs(jobs=[call.backend_job_id])["jobs"]
    assert described["tags"]["batchsite:project"] == "exomes"  # (moto does not echo propagateTags)


@pytest.mark.django_db
def test_a_definition_is_reused_per_signature_and_a_new_attribute_value_makes_another(aws, eager, project, alice):
    aws.emulator.run_jobs = False

    submit(project, alice, wdl('jobTimeout: 600\n'), name="a")
    submit(project, alice, wdl('jobTimeout: 600\n'), name="b")
    submit(project, alice, wdl('jobTimeout: 900\n'), name="c")

    registered = aws.emulator.calls("registerjobdefinition")
    assert [r["timeout"] for r in registered] == [{"attemptDurationSeconds": 600}, {"attemptDurationSeconds": 900}]
    used = [body["jobDefinition"] for body in aws.emulator.calls("submitjob")]
    assert used[0] == used[1] != used[2]


@pytest.mark.django_db
@pytest.mark.parametrize("runtime, named", [
    ("awsBatchRetryAttempts: 11\n", "awsBatchRetryAttempts must be 0 to 10"),
    ('awsBatchEvaluateOnExit: [{"action": "RETRY", "onExitCode": "1"}]\n', "awsBatchEvaluateOnExit needs awsBatchRetryAttempts"),
    ('awsBatchRetryAttempts: 2\n    awsBatchEvaluateOnExit: [{"action": "PAUSE", "onExitCode": "1"}]\n',
     "awsBatchEvaluateOnExit: action must be RETRY or EXIT"),
    ("jobTimeout: 30\n", "jobTimeout must be at least 60"),
    ('ulimits: [{"name": "files", "softLimit": "1", "hardLimit": "2"}]\n', "ulimits: name 'files'"),
    ('ulimits: [{"name": "nofile", "softLimit": "9", "hardLimit": "2"}]\n', "softLimit is above its hardLimit"),
    ('sharedMemorySize: "lots"\n', "memory 'lots' is not a size"),
    ('disks: "local-disk big SSD"\n', "runtime attribute disks"),
    ("gpuCount: -1\n", "gpuCount must be a whole number"),
    ('queueArn: "arn:aws:sqs:us-east-1:1:q"\n', "queueArn"),
    ('logGroupName: "bad group!"\n', "logGroupName"),
    ('additionalTags: {"aws:owner": "me"}\n', "additionalTags"),
    ('tagResources: "maybe"\n', "tagResources must be true or false"),
])
def test_a_bad_literal_value_is_refused_at_submission_naming_the_attribute(aws, project, alice, runtime, named):
    version = workflow_create(project=project, name="bad", source=wdl(runtime)).versions.get()

    with pytest.raises(ValidationError) as refused:
        run_submit(version=version, user=alice, inputs={}, options={})

    assert "task t: " in refused.value.message_dict["runtime"][0]
    assert named in refused.value.message_dict["runtime"][0]
    assert aws.emulator.calls("submitjob") == [] and not Call.objects.exists()


@pytest.mark.django_db
def test_a_bad_computed_value_fails_the_call_before_any_job(aws, eager, project, alice):
    source = wdl("jobTimeout: n\n").replace(b"task t {\n", b"task t {\n  input { Int n = 5 }\n")

    _, call = submit(project, alice, source)

    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert call.failure == "cannot submit to AWSBatch: runtime attribute jobTimeout must be at least 60, not 5"
    assert aws.emulator.calls("submitjob") == [] and aws.emulator.calls("registerjobdefinition") == []
