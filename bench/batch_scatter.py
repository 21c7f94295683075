"""Submit one scatter of N shards to AWS Batch (moto's server, docker off) and count the API calls.

    .venv/bin/python bench/batch_scatter.py --shards 10000

Calls the AWS Batch backend directly with N JobSpecs of one scatter (no database, no engine),
counting requests with botocore event hooks: SubmitJob and RegisterJobDefinition for the
submission, DescribeJobs for one poll cycle over every shard. moto runs in a subprocess on a free
loopback port; nothing leaves 127.0.0.1. The last line is the summary.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
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
    args = parser.parse_args()
    moto, url = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    try:
        run(args.shards)
    finally:
        moto.terminate()
        moto.wait()


def run(shards: int) -> None:
    import boto3

    from batchsite.config import parse_config_text
    from workflows.backends.aws_batch import AwsBatchBackend
    from workflows.backends.base import JobSpec

    s3, batch, iam = boto3.client("s3"), boto3.client("batch"), boto3.client("iam")
    for bucket in ("bench-runs", "bench-scripts"):
        s3.create_bucket(Bucket=bucket)
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(computeEnvironmentName="bench-ce", type="UNMANAGED",
                                                   state="ENABLED", serviceRole=role)
    queue = batch.create_job_queue(jobQueueName="bench-queue", state="ENABLED", priority=1, computeEnvironmentOrder=[
        {"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])["jobQueueArn"]
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
    print(f"batch_scatter shards={shards} submit_job_calls={submit_calls.get('SubmitJob', 0)} "
          f"describe_jobs_calls_per_cycle={calls.get('DescribeJobs', 0)} "
          f"register_job_definition_calls={submit_calls.get('RegisterJobDefinition', 0)} "
          f"submitted_s={submit_seconds:.2f}")


if __name__ == "__main__":
    main()
