"""Fixtures: moto's server, the compute emulator in front of it, and an AWSBatch provider using them.

Every AWS call goes to 127.0.0.1: AWS_ENDPOINT_URL points boto3 at the emulator, which forwards
to moto. moto is reset before each test, so tests in one xdist worker see nothing of each other.
"""
import time
from dataclasses import dataclass

import boto3
import pytest

from batchsite.celery import app as celery_app
from batchsite.config import get_config
from tests.aws.emulator import Emulator
from tests.aws.moto_server import MotoServer
from workflows.backends import JobSpec, JobState, backend_for

REGION = "us-east-1"
ROOT_BUCKET = "batchsite-runs"
SCRIPT_BUCKET = "batchsite-scripts"
ROOT = f"s3://{ROOT_BUCKET}/cromwell-execution"

CONFIG = """
aws {{
  application-name = "batchsite-test"
  auths = [{{ name = "default", scheme = "default" }}]
  region = "{region}"
}}
backend {{
  default = "AWSBatch"
  providers {{
    AWSBatch {{
      actor-factory = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
      config {{
        root = "{root}"
        concurrent-job-limit = 100
        numSubmitAttempts = 4
        container-root = "{container_root}"
        {extra}
        default-runtime-attributes {{
          {queue}
          scriptBucketName = "{script_bucket}"
        }}
      }}
    }}
  }}
}}
"""


@dataclass
class AwsSite:
    """What a test sees of the fake AWS: the emulator, direct moto clients, the provider's names."""

    emulator: Emulator
    s3: object
    batch: object
    logs: object
    queue_arn: str
    root: str = ROOT
    script_bucket: str = SCRIPT_BUCKET

    @property
    def backend(self):
        return backend_for("AWSBatch")

    def read(self, uri: str) -> str:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def spec(self, name: str, command: str, *, call: str = "", **fields) -> JobSpec:
        """A JobSpec whose call directory is under the provider's root."""
        call_dir = f"{self.root}/wf/run-1/{call or 'call-' + name}/attempt-1"
        return JobSpec(name=name, call_dir=call_dir, command=command, **fields)

    def wait_done(self, handles: dict[str, str], timeout: float = 60) -> dict[str, JobState]:
        """Poll the backend until every job is done; return the states."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.backend.poll(handles)
            if all(s.status == JobState.DONE for s in states.values()):
                return states
            if time.monotonic() > deadline:
                raise TimeoutError(states)
            time.sleep(0.2)


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer()
    yield server
    server.stop()


def write_config(path, *, queue: str | None, container_root, extra: str = "") -> str:
    """Write the AWSBatch provider's HOCON file; queue None leaves queueArn out (every task must set it)."""
    path.write_text(CONFIG.format(region=REGION, root=ROOT, queue=f'queueArn = "{queue}"' if queue else "",
                                  script_bucket=SCRIPT_BUCKET, container_root=container_root, extra=extra))
    return str(path)


@pytest.fixture
def aws_config_extra():
    """Extra lines for the provider's config block (a test overrides this fixture to add some)."""
    return ""


@pytest.fixture
def aws(moto_server, monkeypatch, tmp_path, aws_config_extra):
    moto_server.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    emulator = Emulator(moto_server.url, region=REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    direct = dict(endpoint_url=moto_server.url, region_name=REGION)
    s3, batch, logs, iam = (boto3.client(name, **direct) for name in ("s3", "batch", "logs", "iam"))
    for bucket in (ROOT_BUCKET, SCRIPT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    service_role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    environment = batch.create_compute_environment(
        computeEnvironmentName="batchsite-ce", type="UNMANAGED", state="ENABLED", serviceRole=service_role)
    queue = batch.create_job_queue(
        jobQueueName="batchsite-queue", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}])
    logs.create_log_group(logGroupName="/aws/batch/job")
    config = write_config(tmp_path / "batchsite.conf", queue=queue["jobQueueArn"],
                          container_root=tmp_path / "containers", extra=aws_config_extra)
    monkeypatch.setenv("BATCHSITE_CONFIG", config)
    get_config.cache_clear()
    backend_for.cache_clear()
    try:
        yield AwsSite(emulator=emulator, s3=s3, batch=batch, logs=logs, queue_arn=queue["jobQueueArn"])
    finally:
        emulator.close()
        get_config.cache_clear()
        backend_for.cache_clear()


@pytest.fixture
def eager():
    """This process is the worker: tasks run where they are queued."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
