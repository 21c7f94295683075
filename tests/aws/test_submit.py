"""What S3 and Batch receive when calls are submitted: scripts, definitions, names, tags, arrays."""
import hashlib
import json

import boto3
import pytest

from batchsite.config import get_config
from teams.services import project_create, team_create
from tests.aws.conftest import write_config
from tests.conftest import ALICE_ROLE, CAROL_ROLE
from workflows.backends import JobState, TransientBackendError, backend_for
from workflows.models import Call, Script
from workflows.services import job_name, run_advance, run_submit, team_dispatch, workflow_create

HELLO = b"""version 1.0
workflow hello {
  call greet
}
task greet {
  command <<< echo hello >>>
  output { String out = read_string(stdout()) }
}
"""
SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:genomics-registry-AbCdEf"


def submit_run(project, user, options=None):
    """Submit a run of HELLO and dispatch its one call; return the call."""
    version = workflow_create(project=project, name=f"hello-{Call.objects.count()}-{project.slug}", source=HELLO).versions.get()
    run = run_submit(version=version, user=user, inputs={}, options=options or {})
    run_advance(run_id=run.pk)
    team_dispatch(team_id=project.team_id)
    return Call.objects.get(run=run)


def environment(body: dict) -> dict:
    return {e["name"]: e["value"] for e in body["containerOverrides"]["environment"]}


@pytest.mark.django_db
@pytest.mark.parametrize("option, prefix", [
    (None, "scripts/"),
    ("", "scripts/"),
    ("labs/exomes/scripts", "labs/exomes/scripts/"),
    ("labs/exomes/scripts/", "labs/exomes/scripts/"),
])
def test_the_script_goes_under_the_runs_prefix_named_by_its_md5(aws, eager, alice, option, prefix):
    aws.emulator.run_jobs = False
    team = team_create(name="Open", slug="open", allowed_role_arns=[ALICE_ROLE], default_role_arn=ALICE_ROLE)
    project = project_create(team=team, name="Exomes", slug="exomes")
    options = {} if option is None else {"aws_batch_script_bucket_prefix": option}

    call = submit_run(project, alice, options)

    [key] = aws.keys(aws.script_bucket)
    script = aws.read(f"s3://{aws.script_bucket}/{key}")
    assert key == prefix + hashlib.md5(script.encode()).hexdigest()
    assert "echo hello" in script and call.call_dir in script
    [body] = aws.emulator.calls("submitjob")
    assert environment(body)["BATCH_FILE_TYPE"] == "script"
    assert environment(body)["BATCH_FILE_S3_URL"] == f"s3://{aws.script_bucket}/{key}"
    assert list(Script.objects.values_list("bucket", "key", "size")) == [(aws.script_bucket, key, len(script))]
    assert call.script_key == key and call.status == Call.Status.SUBMITTED


def test_an_identical_script_is_stored_once(aws):
    aws.emulator.run_jobs = False
    spec = aws.spec("bs-abc-1-a1", "echo same", script_prefix="scripts/")

    [first] = aws.backend.submit([spec])
    [again] = aws.backend.submit([spec])  # a repeated dispatch of the same attempt
    backend_for.cache_clear()  # another worker process knows nothing of what this one stored
    [other] = aws.backend.submit([spec])

    assert first.script_key == again.script_key == other.script_key
    puts = [status for method, path, status in aws.emulator.http
            if method == "PUT" and path == f"/{aws.script_bucket}/{first.script_key}"]
    assert puts == [200, 412]  # the second worker's conditional put found it there


def test_scripts_are_stored_by_a_worker_on_a_host_booted_moments_ago(aws, monkeypatch):
    aws.emulator.run_jobs = False
    monkeypatch.setattr(aws.backend, "clock", lambda: 42.0)  # seconds since boot, for this backend only

    [submitted] = aws.backend.submit([aws.spec("bs-abc-1-a1", "echo fresh", script_prefix="scripts/")])

    assert aws.keys(aws.script_bucket) == [submitted.script_key]


EXECUTION_ROLE = "arn:aws:iam::111111111111:role/ecsTaskExecutionRole"


@pytest.mark.django_db
@pytest.mark.parametrize("aws_config_extra", [f'execution-role-arn = "{EXECUTION_ROLE}"'])
def test_definitions_carry_each_teams_role_and_only_its_registry_credential(aws, eager, project, alice, carol, other_team):
    aws.emulator.run_jobs = False
    project.team.registry_credential_arn = SECRET
    project.team.save()
    other_project = project_create(team=other_team, name="Peptides", slug="peptides")

    submit_run(project, alice)
    submit_run(other_project, carol)
    submit_run(project, alice)  # a second run of the same signature reuses the definition

    assert len(aws.emulator.calls("registerjobdefinition")) == 2
    definitions = {d["jobDefinitionArn"]: d for d in aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]}
    used = [body["jobDefinition"] for body in aws.emulator.calls("submitjob")]
    genomics, proteomics, again = (definitions[arn]["containerProperties"] for arn in used)
    assert genomics["jobRoleArn"] == ALICE_ROLE and again == genomics
    assert genomics["repositoryCredentials"] == {"credentialsParameter": SECRET}
    assert genomics["executionRoleArn"] == EXECUTION_ROLE  # the container agent pulls under it
    assert proteomics["jobRoleArn"] == CAROL_ROLE
    assert "repositoryCredentials" not in proteomics and "executionRoleArn" not in proteomics
    assert used[0] == used[2] != used[1]
    assert all(d["jobDefinitionName"].startswith("batchsite-ubuntu_latest-") for d in definitions.values())


@pytest.mark.django_db
def test_a_registry_credential_without_an_execution_role_fails_the_call_saying_so(aws, eager, project, alice):
    project.team.registry_credential_arn = SECRET
    project.team.save()

    call = submit_run(project, alice)

    call.refresh_from_db()
    assert call.status == Call.Status.FAILED
    assert call.failure.startswith(f"cannot submit to AWSBatch: a private registry credential ({SECRET}) applies")
    assert "set execution-role-arn in the AWSBatch provider's config" in call.failure
    assert aws.emulator.calls("submitjob") == []


def test_jobs_carry_their_deterministic_names_and_batchsite_tags(aws):
    aws.emulator.run_jobs = False
    tags = {"batchsite:run": "0f1e2d3c", "batchsite:call": "call-align-2#1", "batchsite:team": "7"}
    spec = aws.spec("bs-0f1e2d3c4b5a-42-a1", "true", tags=tags)

    [sub] = aws.backend.submit([spec])

    [job] = aws.batch.describe_jobs(jobs=[sub.handle])["jobs"]
    assert job["jobName"] == "bs-0f1e2d3c4b5a-42-a1"
    # AWS refuses "#" in tag values; the call's tag keeps its meaning with "_".
    assert job["tags"] == {"batchsite:run": "0f1e2d3c", "batchsite:call": "call-align-2_1", "batchsite:team": "7"}


def test_the_shards_of_a_scatter_go_as_one_array_job(aws):
    shards = [aws.spec(f"bs-abc-{i}-a1", f"echo shard {i} > out.txt", call=f"call-align/shard-{i}") for i in range(3)]
    other = aws.spec("bs-abc-9-a1", "echo other > out.txt", call="call-merge")
    bigger = aws.spec("bs-abc-8-a1", "echo big > out.txt", call="call-align/shard-3", runtime={"cpu": 4})

    submitted = aws.backend.submit(shards + [other, bigger])

    bodies = aws.emulator.calls("submitjob")
    assert len(bodies) == 3
    [array] = [b for b in bodies if "arrayProperties" in b]
    assert array["arrayProperties"] == {"size": 3} and array["jobName"] == "bs-abc-0-a1-x3"
    assert environment(array)["BATCH_FILE_TYPE"] == "bundle"
    parent = submitted[0].handle.split(":")[0]
    assert [s.handle for s in submitted[:3]] == [f"{parent}:{i}" for i in range(3)]
    assert len({s.script_key for s in submitted}) == 3  # one bundle for the array, one script each for the others
    states = aws.wait_done({s.handle: spec.call_dir for s, spec in zip(submitted, shards + [other, bigger])})
    assert all(state == JobState(JobState.DONE, rc=0) for state in states.values())
    # Each child picked its own shard's script out of the bundle.
    assert [aws.read(f"{s.call_dir}/execution/out.txt") for s in shards] == [f"shard {i}\n" for i in range(3)]
    [cpus] = [r["value"] for b in bodies if b["jobName"] == "bs-abc-8-a1"
              for r in b["containerOverrides"]["resourceRequirements"] if r["type"] == "VCPU"]
    assert cpus == "4"


def test_throttled_submissions_back_off_and_go_through_once(aws):
    aws.emulator.run_jobs = False
    aws.backend.retry_base_seconds = 0.05
    aws.emulator.throttle("submitjob", 2)
    spec = aws.spec("bs-abc-1-a1", "true")

    [sub] = aws.backend.submit([spec])

    assert len(aws.emulator.calls("submitjob")) == 3
    listed = aws.batch.list_jobs(jobQueue=aws.queue_arn, filters=[{"name": "JOB_NAME", "values": [spec.name]}])
    assert [j["jobId"] for j in listed["jobSummaryList"]] == [sub.handle]


def test_throttling_that_does_not_stop_is_a_transient_error(aws):
    aws.emulator.run_jobs = False
    aws.backend.retry_base_seconds = 0.01
    aws.emulator.throttle("submitjob", 100)

    with pytest.raises(TransientBackendError, match="TooManyRequests"):
        aws.backend.submit([aws.spec("bs-abc-1-a1", "true")])

    assert len(aws.emulator.calls("submitjob")) == 4  # numSubmitAttempts
    assert aws.batch.list_jobs(jobQueue=aws.queue_arn)["jobSummaryList"] == []


def test_a_lost_submit_reply_is_found_by_name_not_submitted_twice(aws):
    aws.emulator.run_jobs = False
    aws.emulator.lose_reply("submitjob")
    spec = aws.spec("bs-abc-1-a1", "true")

    [sub] = aws.backend.submit([spec])

    listed = aws.batch.list_jobs(jobQueue=aws.queue_arn, filters=[{"name": "JOB_NAME", "values": [spec.name]}])
    assert [j["jobId"] for j in listed["jobSummaryList"]] == [sub.handle]
    assert len(aws.emulator.calls("submitjob")) == 1


def test_find_returns_the_jobs_whose_submission_the_core_lost(aws):
    aws.emulator.run_jobs = False
    shards = [aws.spec(f"bs-abc-{i}-a1", "true", call=f"call-align/shard-{i}") for i in range(3)]
    single = aws.spec("bs-abc-7-a1", "true", call="call-merge")
    submitted = aws.backend.submit(shards + [single])
    backend_for.cache_clear()  # the worker that submitted died before recording the handles

    found = aws.backend.find([aws.spec(s.name, "", call=s.call_dir) for s in shards + [single]]
                             + [aws.spec("bs-abc-8-a1", "")])

    assert found == {spec.name: sub.handle for spec, sub in zip(shards + [single], submitted)}
    assert len(aws.emulator.calls("submitjob")) == 2


@pytest.mark.django_db
def test_a_call_batch_cannot_take_fails_saying_why_and_is_not_retried_forever(aws, eager, project, alice, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("BATCHSITE_CONFIG", write_config(tmp_path / "noqueue.conf", queue=None, container_root=tmp_path))
    get_config.cache_clear()
    backend_for.cache_clear()
    version = workflow_create(project=project, name="refused", source=HELLO).versions.get()
    run = run_submit(version=version, user=alice, inputs={})
    run_advance(run_id=run.pk)

    team_dispatch(team_id=project.team_id)
    run_advance(run_id=run.pk)

    run.refresh_from_db()
    call = Call.objects.get(run=run)
    assert run.status == "Failed" and call.status == Call.Status.FAILED
    assert call.failure == ("cannot submit to AWSBatch: "
                            f"{job_name(call)}: no queueArn in the task's runtime or in the provider's config")
    assert aws.emulator.calls("submitjob") == []


def test_a_task_without_a_queue_anywhere_is_refused(aws, tmp_path, monkeypatch):
    aws.emulator.run_jobs = False
    monkeypatch.setenv("BATCHSITE_CONFIG", write_config(tmp_path / "noqueue.conf", queue=None, container_root=tmp_path))
    get_config.cache_clear()
    backend_for.cache_clear()

    with pytest.raises(ValueError, match="no queueArn"):
        aws.backend.submit([aws.spec("bs-abc-1-a1", "true")])
    aws.backend.submit([aws.spec("bs-abc-2-a1", "true", runtime={"queueArn": aws.queue_arn})])

    assert [body["jobQueue"] for body in aws.emulator.calls("submitjob")] == [aws.queue_arn]


PROVIDER_SECRET = "arn:aws:secretsmanager:us-east-1:111111111111:secret:site-dockerhub-XyZ"


@pytest.mark.parametrize("aws_config_extra", [f'dockerhub {{ token = "{PROVIDER_SECRET}" }}'])
def test_the_providers_dockerhub_secret_applies_where_a_team_has_none_of_its_own(aws):
    aws.emulator.run_jobs = False

    aws.backend.submit([aws.spec("bs-abc-1-a1", "true", job_role_arn=ALICE_ROLE),
                        aws.spec("bs-abc-2-a1", "true", job_role_arn=ALICE_ROLE, registry_credential_arn=SECRET)])

    assert definition_credentials(aws) == {PROVIDER_SECRET, SECRET}


@pytest.mark.parametrize("aws_config_extra, login", [
    ('dockerhub { token = "bGFiOnMzY3JldA==" }', {"username": "lab", "password": "s3cret"}),  # Cromwell's form
    ('dockerhub { account = "lab", token = "dckr_pat_123" }', {"username": "lab", "password": "dckr_pat_123"}),
])
def test_a_raw_dockerhub_token_is_kept_in_secrets_manager_and_never_sent_to_batch(aws, login):
    aws.emulator.run_jobs = False

    aws.backend.submit([aws.spec("bs-abc-1-a1", "true", job_role_arn=ALICE_ROLE)])
    aws.backend.submit([aws.spec("bs-abc-2-a1", "true", job_role_arn=ALICE_ROLE)])
    backend_for.cache_clear()  # another worker finds the same secret
    aws.backend.submit([aws.spec("bs-abc-3-a1", "true", job_role_arn=ALICE_ROLE)])

    secrets = boto3.client("secretsmanager", endpoint_url=aws.emulator.moto_url, region_name=aws.emulator.region)
    [secret] = secrets.list_secrets()["SecretList"]
    assert secret["Name"].startswith("batchsite/AWSBatch/dockerhub-")
    assert json.loads(secrets.get_secret_value(SecretId=secret["ARN"])["SecretString"]) == login
    assert definition_credentials(aws) == {secret["ARN"]}
    assert login["password"] not in json.dumps(aws.emulator.requests)


def definition_credentials(aws) -> set:
    return {d["containerProperties"].get("repositoryCredentials", {}).get("credentialsParameter")
            for d in aws.batch.describe_job_definitions(status="ACTIVE")["jobDefinitions"]}
