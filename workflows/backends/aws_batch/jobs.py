"""How a call attempt looks to AWS Batch: its group, definition, overrides, tags, and why it ended.

Plain functions of a JobSpec and the provider's settings; nothing here calls AWS.
"""
import hashlib
import json
import math
import re
from datetime import datetime, timezone
from typing import Mapping

from workflows.backends.base import JobSpec

from . import attributes, scripts

MAX_ARRAY = 10_000  # Batch's largest array job
DEFAULT_IMAGE = "ubuntu:latest"
DEFAULT_MEMORY_MIB = 2048
QUEUED = {"SUBMITTED", "PENDING", "RUNNABLE"}
STARTED = {"STARTING", "RUNNING"}
ENDED = {"SUCCEEDED", "FAILED"}
_SHARD = re.compile(r"/shard-\d+(?=/|$)")
_NOT_IN_TAGS = re.compile(r"[^\w .:/=+\-@]")  # what AWS tag values may not hold ("#" among others)
_MEMORY = re.compile(r"^\s*([\d.]+)\s*([A-Za-z]*)\s*$")
# Cromwell's units: KB, MB, ... are powers of 1000; KiB, MiB, ... powers of 1024.
_UNITS = {"B": 1, **{p: 1000 ** (i + 1) for i, p in enumerate("KMGT")},
          **{f"{p}B": 1000 ** (i + 1) for i, p in enumerate("KMGT")},
          **{f"{p}IB": 1024 ** (i + 1) for i, p in enumerate("KMGT")}}


def group(job: JobSpec, *, defaults: Mapping, queue: str | None, credential: str, container_root: str) -> tuple:
    """Return what jobs must share to be children of one array job.

    (queue, definition signature, resources, script prefix, call directory without its shards, tags):
    the shards of one scatter share all six. The runtime attributes are checked here (ValueError).
    """
    runtime = {**defaults, **job.runtime}
    queue = attributes.queue(runtime) or queue
    if not queue:
        raise ValueError(f"{job.name}: no queueArn in the task's runtime or in the provider's config")
    definition = (runtime.get("docker") or DEFAULT_IMAGE, job.job_role_arn, job.registry_credential_arn or credential,
                  attributes.definition_extras(runtime, container_root=container_root))
    resources = (("VCPU", int(runtime.get("cpu") or 1)), ("MEMORY", memory_mib(runtime.get("memory"))))
    gpus = 1 if runtime.get("gpu") is True else attributes.gpus(runtime)
    if gpus:
        resources += (("GPU", gpus),)
    extra_tags = json.dumps(attributes.additional_tags(runtime), sort_keys=True)
    return queue, definition, resources, job.script_prefix, _SHARD.sub("", job.call_dir), extra_tags


def definition_request(image: str, role: str, credential: str, extras: str,
                       execution_role: str = "") -> tuple[str, dict]:
    """Return the name and RegisterJobDefinition request of a definition signature.

    The name ends in a hash of the request: the same signature always gets the same definition.
    A registry credential needs the execution role: the container agent pulls with it. extras is
    attributes.definition_extras(): retry strategy, timeout, ulimits, disks, log group, tags.
    """
    properties = {
        "image": image,
        "command": ["/bin/bash", "-c", scripts.BOOTSTRAP],
        "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": str(DEFAULT_MEMORY_MIB)}],
        "volumes": [{"name": "aws-cli", "host": {"sourcePath": scripts.HOST_AWS_CLI}}],
        "mountPoints": [{"sourceVolume": "aws-cli", "containerPath": scripts.HOST_AWS_CLI, "readOnly": True}],
    }
    if role:
        properties["jobRoleArn"] = role
    if credential:
        properties["repositoryCredentials"] = {"credentialsParameter": credential}
    if credential and execution_role:
        properties["executionRoleArn"] = execution_role
    added = json.loads(extras or "{}")
    for key, value in added.pop("containerProperties", {}).items():
        properties[key] = properties.get(key, []) + value if key in ("volumes", "mountPoints") else value
    request = {"type": "container", "containerProperties": properties, **added}
    digest = hashlib.sha1(json.dumps(request, sort_keys=True).encode()).hexdigest()
    return f"batchsite-{re.sub(r'[^A-Za-z0-9_-]', '_', image)[:60]}-{digest}", request


def overrides(size: int, url: str, resources: tuple) -> dict:
    """Return the containerOverrides of a job (size 1) or an array job whose script is at url."""
    environment = [{"name": "BATCH_FILE_TYPE", "value": "script" if size == 1 else "bundle"},
                   {"name": "BATCH_FILE_S3_URL", "value": url},
                   # the AWS CLI in the container retries throttled S3 calls, as in Cromwell's jobs
                   {"name": "AWS_RETRY_MODE", "value": "adaptive"}, {"name": "AWS_MAX_ATTEMPTS", "value": "14"}]
    return {"environment": environment,
            "resourceRequirements": [{"type": kind, "value": str(value)} for kind, value in resources]}


def tags(values: dict) -> dict:
    """Return tags as AWS takes them: the characters it refuses become "_"."""
    return {_NOT_IN_TAGS.sub("_", k)[:128]: _NOT_IN_TAGS.sub("_", str(v))[:256] for k, v in values.items()}


def array_tags(jobs: list[JobSpec]) -> dict:
    """Return the tags of an array job: its children's, with the call naming the first and last."""
    values = dict(jobs[0].tags)
    if "batchsite:call" in values:
        values["batchsite:call"] = f"{jobs[0].tags['batchsite:call']} .. {jobs[-1].tags.get('batchsite:call', '')}"
    return tags(values)


def memory_mib(value) -> int:
    """Return a memory runtime value (bytes, or text like "4 GB" or "4 GiB") in MiB."""
    if value in (None, ""):
        return DEFAULT_MEMORY_MIB
    if isinstance(value, (int, float)):
        return max(1, math.ceil(value / 2**20))
    match = _MEMORY.match(str(value))
    unit = (match.group(2) or "B").upper() if match else "?"
    if unit not in _UNITS:
        raise ValueError(f"memory {value!r} is not a size like 4 GB")
    return max(1, math.ceil(float(match.group(1)) * _UNITS[unit] / 2**20))


def run_times(detail: dict) -> dict:
    """Return started_at and stopped_at of a described job (Batch's startedAt/stoppedAt, epoch ms)."""
    return {name: datetime.fromtimestamp(detail[key] / 1000, tz=timezone.utc)
            for name, key in (("started_at", "startedAt"), ("stopped_at", "stoppedAt"))
            if isinstance(detail.get(key), (int, float))}


def reclaimed(detail: dict) -> bool:
    """Return whether Batch ended the job because its host went away ("Host EC2 (instance ...) terminated.")."""
    status_reason = detail.get("statusReason") or ""
    return status_reason.startswith("Host EC2") and "terminated" in status_reason


def job_failure(detail: dict) -> str:
    """Say why a job ended without an rc file, naming Spot reclaims and out-of-memory kills."""
    status_reason = detail.get("statusReason") or ""
    container = detail.get("container") or {}
    reason, exit_code = container.get("reason") or "", container.get("exitCode")
    if "OutOfMemoryError" in reason or "OutOfMemoryError" in status_reason:
        return f"the container ran out of memory ({reason or status_reason}); give the task more memory"
    if reclaimed(detail):
        return f"the EC2 instance running the job went away, as when Spot reclaims it ({status_reason})"
    parts = [f"the AWS Batch job {detail.get('status', 'ended').lower()} without writing rc"]
    parts += [text for text in (status_reason, reason) if text]
    if exit_code is not None:
        parts.append(f"exit code {exit_code}")
    return "; ".join(parts)
