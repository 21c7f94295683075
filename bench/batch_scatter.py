"""Submit one scatter of N shards to AWS Batch (moto's server, docker off) and count the API calls.

    .venv/bin/python bench/batch_scatter.py --shards 10000 [--cap 500]

First part: calls the AWS Batch backend directly with N JobSpecs of one scatter (no database, no
engine), counting requests with botocore event hooks: SubmitJob and RegisterJobDefinition for the
submission, DescribeJobs for one poll cycle over every shard.

Second part: runs an N-shard scatter WDL through the engine (PostgreSQL, this process as the
worker) for a team capped at --cap running jobs, counting the team's active calls before every
SubmitJob and after every tick; it fails if the count ever exceeds the cap. moto runs nothing, so
the bench plays the compute: a job SubmitJob accepted has run and written its rc file.

moto runs in a subprocess on a free loopback port; nothing leaves 127.0.0.1. The last line is the
summary of the first part.
"""
import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

CONFIG = """
aws {{ application-name = "bench", auths = [{{ name = "default", scheme = "default" }}], region = "us-east-1" }}
backend {{
  default = "AWSBatch"
  providers.AWSBatch {{
    actor-factory = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
    config {{
      root = "s3://bench-runs/cromwell-execution"
      default-runtime-attributes {{ queueArn = "{queue}", scriptBucketName = "bench-scripts" }}
    }}
  }}
}}
"""
CAPPED_WDL = """version 1.0
workflow capped {
  input { Int n }
  scatter (i in range(n)) { call noop }
}
task noop {
  command <<< true >>>
  runtime { docker: "ubuntu:22.04" }
}
"""


# moto with tests/aws/moto_server.py's fix: it describes each job from a copy of its environment.
MOTO_SERVER = """
import sys
from moto.server import main
from tests.aws.moto_server import fix_moto

fix_moto()
main(sys.argv[1:])
"""


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = subprocess.Popen([sys.executable, "-c", MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
                            cwd=BASE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            request = urllib.request.Request(f"{url}/moto-api/config", method="POST",
                                             data=json.dumps({"batch": {"use_docker": False}}).encode())
            urllib.request.urlopen(request, timeout=2).read()
            return moto, url
        except OSError:
            time.sleep(0.1)
    moto.kill()
    raise SystemExit("moto_server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=10_000)
    parser.add_argument("--cap", type=int, default=500, help="the team cap of the second part")
    args = parser.parse_args()
    moto, url = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    work = Path(tempfile.mkdtemp(prefix="bench-batch-scatter-"))
    try:
        queue = aws_setup()
        summary = submit_and_poll(args.shards, queue)
        peak = capped_run(args.shards, args.cap, queue, work)
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(summary)
    if peak > args.cap:
        raise SystemExit(f"the team's active calls reached {peak}, over its cap of {args.cap}")


def aws_setup() -> str:
    """Create the buckets, a compute environment and a job queue in moto; return the queue's ARN."""
    import boto3

    s3, batch, iam = boto3.client("s3"), boto3.client("batch"), boto3.client("iam")
    for bucket in ("bench-runs", "bench-scripts"):
        s3.create_bucket(Bucket=bucket)
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(computeEnvironmentName="bench-ce", type="UNMANAGED",
                                                   state="ENABLED", serviceRole=role)
    return batch.create_job_queue(jobQueueName="bench-queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])["jobQueueArn"]


def submit_and_poll(shards: int, queue: str) -> str:
    """Submit the shards with the backend alone and poll them once; return the summary line."""
    from batchsite.config import parse_config_text
    from workflows.backends.aws_batch import AwsBatchBackend
    from workflows.backends.base import JobSpec

    config = parse_config_text(CONFIG.format(queue=queue), base_dir=tempfile.gettempdir())
    backend = AwsBatchBackend(config.provider("AWSBatch"), config.aws)
    calls, seconds, started_at = Counter(), Counter(), {}

    def before(model, context, **_):
        calls.update([model.name])
        started_at[id(context)] = time.monotonic()

    def after(model, context, **_):
        seconds[model.name] += time.monotonic() - started_at.pop(id(context), time.monotonic())

    for client in (backend.batch, backend.submitter, backend.registrar, backend.s3):
        client.meta.events.register("before-call", before)
        client.meta.events.register("after-call", after)

    run_dir = "s3://bench-runs/cromwell-execution/scatter/5c0ffee0"
    specs = [JobSpec(name=f"bs-5c0ffee0abcd-{i}-a1", call_dir=f"{run_dir}/call-shard/shard-{i}/attempt-1",
                     command=f"echo shard {i} > out.txt", runtime={"docker": "ubuntu:22.04", "cpu": 1},
                     script_prefix="teams/bench/scripts/", job_role_arn="arn:aws:iam::111111111111:role/bench",
                     tags={"batchsite:run": "5c0ffee0", "batchsite:call": f"call-shard-{i}#1", "batchsite:team": "1"})
             for i in range(shards)]
    started = time.monotonic()
    submitted = backend.submit(specs)
    submit_seconds = time.monotonic() - started
    submit_calls = dict(calls)
    calls.clear()
    seconds.clear()
    started = time.monotonic()
    states = backend.poll({sub.handle: spec.call_dir for sub, spec in zip(submitted, specs)})
    poll_seconds = time.monotonic() - started
    print(f"submit: {submit_seconds:.2f} s, calls {submit_calls}")
    print(f"poll of {len(states)} handles: {poll_seconds:.2f} s, calls {dict(calls)}, "
          f"seconds in calls (summed over threads) {({k: round(v, 1) for k, v in seconds.items()})}")
    return (f"batch_scatter shards={shards} submit_job_calls={submit_calls.get('SubmitJob', 0)} "
            f"describe_jobs_calls_per_cycle={calls.get('DescribeJobs', 0)} "
            f"register_job_definition_calls={submit_calls.get('RegisterJobDefinition', 0)} "
            f"submitted_s={submit_seconds:.2f}")


def capped_run(shards: int, cap: int, queue: str, work: Path) -> int:
    """Run an N-shard scatter through the engine for a team capped at cap; return the peak of active calls."""
    from bench.common import django_on_fresh_database

    django_on_fresh_database(database="batchsite_bench_batch", redis_url="redis://127.0.0.1:6379/9", work=work,
                             config=CONFIG.format(queue=queue))
    from batchsite.celery import app
    from teams.services import project_create, team_create
    from workflows.backends import backend_for
    from workflows.backends.aws_batch.workspace import split_uri
    from workflows.models import Call, Run
    from workflows.services import run_submit, tick, workflow_create

    app.conf.task_always_eager = True  # this process is the worker
    logging.disable(logging.INFO)  # one line per task would bury the figures
    role = "arn:aws:iam::111111111111:role/bench"
    team = team_create(name="Bench", slug="bench", max_running_jobs=cap, allowed_role_arns=[role], default_role_arn=role)
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="Capped", source=CAPPED_WDL.encode()).versions.get()
    backend = backend_for("AWSBatch")
    active = Call.objects.filter(team=team, status__in=Call.ACTIVE)
    peak, submit_jobs, submitted_calls = 0, 0, 0

    def before_submit(**_):
        nonlocal peak, submit_jobs
        peak = max(peak, active.count())  # the calls going out now are counted: they are SUBMITTING
        submit_jobs += 1

    def after_submit(**_):  # the compute: every job Batch accepts runs at once and writes rc 0
        nonlocal submitted_calls
        going = [split_uri(f"{d}/execution/rc") for d in
                 Call.objects.filter(team=team, status=Call.Status.SUBMITTING).values_list("call_dir", flat=True)]
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda bucket_key: backend.s3.put_object(Bucket=bucket_key[0], Key=bucket_key[1], Body=b"0\n"),
                          going))
        submitted_calls += len(going)

    backend.submitter.meta.events.register("before-call.batch.SubmitJob", before_submit)
    backend.submitter.meta.events.register("after-call.batch.SubmitJob", after_submit)
    started = time.monotonic()
    run = run_submit(version=version, user=None, inputs={"capped.n": shards})
    while Run.objects.values_list("status", flat=True).get(pk=run.pk) not in Run.TERMINAL:
        tick()
        peak = max(peak, active.count())
        if time.monotonic() - started > 3600:
            raise SystemExit("the capped run did not finish within an hour")
    seconds = time.monotonic() - started
    run.refresh_from_db()
    succeeded = Call.objects.filter(run=run, status=Call.Status.SUCCEEDED).count()
    print(f"capped run: status={run.status} calls_succeeded={succeeded} submit_job_calls={submit_jobs} "
          f"calls_submitted={submitted_calls} seconds={seconds:.1f}")
    print(f"team cap={cap} max_active={peak}", flush=True)
    if run.status != Run.Status.SUCCEEDED or succeeded != shards:
        raise SystemExit(f"the capped run ended {run.status}: {run.failures}")
    return peak


if __name__ == "__main__":
    main()
