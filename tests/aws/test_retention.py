"""Retention and orphan reconciliation against moto's S3 and Batch (through the compute emulator)."""
import uuid

from django.utils import timezone
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from teams.services import project_create, team_create, user_create
from tests.aws.conftest import ROOT, SCRIPT_BUCKET
from tests.workflows.test_retention import DAY, build_scenario, check_beat_cleanup, make_run
from tests.workflows.ui_factories import hello_workflow
from workflows import tasks
from workflows.backends import JobSpec
from workflows.models import CleanupReport, Run, Script
from workflows.services.retention import orphans_reconcile


class S3Store:
    bucket = SCRIPT_BUCKET

    def __init__(self, s3):
        self.s3 = s3

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)

    def sizes(self, prefix: str) -> dict[str, int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def test_the_beat_cleanup_deletes_exactly_the_expired_scripts_in_s3(aws, db):
    scenario = build_scenario(S3Store(aws.s3), backend="AWSBatch", root=ROOT)
    check_beat_cleanup(scenario)


def test_25000_expired_scripts_go_in_at_most_30_delete_objects_calls(aws, db):
    user = user_create(username="owner", password="pw")
    team = team_create(name="Big", slug="big", prefix_root="teams/big/")
    workflow = hello_workflow(project_create(team=team, name="P", slug="p"), user)
    run = make_run(workflow, status=Run.Status.SUCCEEDED, ended_days_ago=60, backend="AWSBatch", root=ROOT)
    keys = [f"{run.script_prefix}{i:06d}" for i in range(25_000)]
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"]  # moto's server runs in this process: put directly
    for key in keys:
        bucket.put_object(SCRIPT_BUCKET, key, b"x" * 10)
    assert len(aws.keys(SCRIPT_BUCKET, "teams/big/")) == 25_000
    Script.objects.bulk_create([Script(run=run, team=team, bucket=SCRIPT_BUCKET, key=k, size=10) for k in keys],
                               batch_size=5000)
    Script.objects.filter(run=run).update(created=timezone.now() - 60 * DAY)
    calls = []
    aws.backend.s3.meta.events.register("before-call.s3.DeleteObjects", lambda **kw: calls.append(1))

    tasks.cleanup_old_scripts_task()

    assert 25 <= len(calls) <= 30
    assert aws.keys(SCRIPT_BUCKET, "teams/big/") == []
    report = CleanupReport.objects.get(team=team)
    assert (report.deleted_objects, report.deleted_bytes, report.errors) == (25_000, 250_000, [])
    assert not Script.objects.filter(run=run).exists()


def submit(aws, name: str, run_id: str, team: str, **fields) -> str:
    """Submit a tagged job; team is the team's slug (or, as jobs submitted before cost tags carry, its id)."""
    spec = aws.spec(name, "sleep 30", call=f"call-{name}", tags={
        "batchsite:run": run_id, "batchsite:team": team, "batchsite:call": f"call-{name}/attempt-1"},
        **fields)
    return aws.backend.submit([spec])[0].handle


def test_an_orphan_job_is_terminated_and_reported_and_a_live_runs_job_is_not(aws, db, alice, project):
    workflow = hello_workflow(project, alice)
    finished = make_run(workflow, status=Run.Status.ABORTED, ended_days_ago=0, backend="AWSBatch", root=ROOT)
    live = make_run(workflow, status=Run.Status.RUNNING, ended_days_ago=0, backend="AWSBatch", root=ROOT)
    orphan = submit(aws, "bs-orphan", str(finished.pk), project.team.slug)
    older = submit(aws, "bs-older", str(finished.pk), str(project.team_id))
    environment = aws.batch.describe_compute_environments()["computeEnvironments"][0]["computeEnvironmentArn"]
    own_queue = aws.batch.create_job_queue(jobQueueName="task-own", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment}])["jobQueueArn"]
    unknown = submit(aws, "bs-unknown", str(uuid.uuid4()), "999999", runtime={"queueArn": own_queue})
    keep = submit(aws, "bs-keep", str(live.pk), project.team.slug)
    aws.emulator.wait_running(orphan)
    aws.emulator.wait_running(keep)

    reports = orphans_reconcile()
    for job in (orphan, older, unknown):  # TerminateJob is asynchronous: a job ends a moment later
        aws.emulator.wait(job, timeout=10)
    orphans_reconcile()  # a repeat finds nothing more to terminate

    terminated = {body["jobId"] for body in aws.emulator.calls("terminatejob")}
    assert terminated == {orphan, older, unknown}
    by_team = {r.team_id: r for r in reports}
    assert sorted(by_team[project.team_id].details["terminated"], key=lambda t: t["job"]) == sorted(
        [{"job": orphan, "run": str(finished.pk)}, {"job": older, "run": str(finished.pk)}], key=lambda t: t["job"])
    assert by_team[None].deleted_objects == 1
    assert CleanupReport.objects.filter(kind=CleanupReport.Kind.ORPHANS).count() == 2
    assert project.team.audit_events.filter(action="cleanup", target="orphan Batch jobs").count() == 1
    assert aws.backend.poll({keep: ""})[keep].status == "running"
