"""Cromwell's AWS runtime attributes, checked and turned into job definition and SubmitJob fields.

Names and meanings follow Cromwell's AwsBatchRuntimeAttributes.scala. A value AWS Batch cannot
take raises ValueError naming the attribute, before anything is sent to AWS. What changes the job
definition (retries, exit rules, timeout, ulimits, shared memory, disks, log group, resource
tags) is returned as one canonical JSON text that joins the definition's signature.
"""
import json
import re
from typing import Mapping

MAX_ATTEMPTS = 10  # Batch's retryStrategy takes 1-10 attempts
MAX_EXIT_RULES = 5  # and at most 5 evaluateOnExit rules
MIN_TIMEOUT_SECONDS = 60  # Batch refuses a shorter attemptDurationSeconds
# AWS takes 50 tags a resource: Batchsite's own (5) and a team's (at most 10) leave room for 30.
MAX_ADDITIONAL_TAGS = 30
ULIMIT_NAMES = {"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
                "rss", "rtprio", "rttime", "sigpending", "stack"}
DISK_TYPES = {"LOCAL", "SSD", "HDD"}
MAX_DISK_GIB = 65_536
_EXIT_CODE = re.compile(r"^\d{1,512}\*?$|^\*$")
_REASON = re.compile(r"^[A-Za-z0-9.: ]{0,511}\*?$")
_LOG_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")
_QUEUE = re.compile(r"^(arn:aws(?:-cn|-us-gov)?:batch:[a-z0-9-]+:\d{12}:job-queue/)?[A-Za-z0-9_-]{1,128}$")
_TAG_KEY = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{0,256}$")
_MOUNT = re.compile(r"^/[A-Za-z0-9_./-]{0,255}$")
DEFAULT_LOG_GROUP = "/aws/batch/job"


def _int(runtime: Mapping, name: str, low: int, high: int | None = None) -> int | None:
    value = runtime.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise ValueError(f"runtime attribute {name} must be a whole number, not {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise ValueError(f"runtime attribute {name} must be {span}, not {number}")
    return number


def _maps(runtime: Mapping, name: str) -> list[dict]:
    """Return a list-of-maps attribute (one map alone is taken as a list of one)."""
    value = runtime.get(name)
    if value in (None, "", []):
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"runtime attribute {name} must be a list of maps, not {value!r}")
    return value


def retry_strategy(runtime: Mapping) -> dict | None:
    """Return the retryStrategy of awsBatchRetryAttempts and awsBatchEvaluateOnExit, or None."""
    attempts = _int(runtime, "awsBatchRetryAttempts", 0, MAX_ATTEMPTS)
    rules = _maps(runtime, "awsBatchEvaluateOnExit")
    if len(rules) > MAX_EXIT_RULES:
        raise ValueError(f"runtime attribute awsBatchEvaluateOnExit has {len(rules)} rules; "
                         f"AWS Batch takes at most {MAX_EXIT_RULES}")
    exits = []
    for rule in rules:
        unknown = set(rule) - {"action", "onExitCode", "onReason", "onStatusReason"}
        if unknown:
            raise ValueError(f"runtime attribute awsBatchEvaluateOnExit: unknown key {sorted(unknown)[0]!r} "
                             "(keys are action, onExitCode, onReason, onStatusReason)")
        action = str(rule.get("action", "")).upper()
        if action not in ("RETRY", "EXIT"):
            raise ValueError(f"runtime attribute awsBatchEvaluateOnExit: action must be RETRY or EXIT, "
                             f"not {rule.get('action')!r}")
        entry = {"action": action}
        for key, pattern in (("onExitCode", _EXIT_CODE), ("onReason", _REASON), ("onStatusReason", _REASON)):
            if key in rule:
                text = str(rule[key])
                if not pattern.match(text):
                    raise ValueError(f"runtime attribute awsBatchEvaluateOnExit: {key} {text!r} is not a pattern "
                                     "AWS Batch takes (letters, digits, '.', ':', spaces, and one trailing '*')")
                entry[key] = text
        if len(entry) == 1:
            raise ValueError("runtime attribute awsBatchEvaluateOnExit: a rule needs onExitCode, onReason "
                             "or onStatusReason")
        exits.append(entry)
    if exits and not attempts:
        raise ValueError("runtime attribute awsBatchEvaluateOnExit needs awsBatchRetryAttempts of 1 to 10")
    if not attempts:
        return None
    return {"attempts": attempts, **({"evaluateOnExit": exits} if exits else {})}


def ulimits(runtime: Mapping) -> list[dict]:
    """Return containerProperties.ulimits from the ulimits attribute (name, softLimit, hardLimit)."""
    result = []
    for entry in _maps(runtime, "ulimits"):
        name = entry.get("name")
        if name not in ULIMIT_NAMES:
            raise ValueError(f"runtime attribute ulimits: name {name!r} is not one of {', '.join(sorted(ULIMIT_NAMES))}")
        limits = {}
        for key in ("softLimit", "hardLimit"):
            limits[key] = _int(entry, key, 0)
            if limits[key] is None:
                raise ValueError(f"runtime attribute ulimits: {name} needs a whole-number {key}")
        if limits["softLimit"] > limits["hardLimit"]:
            raise ValueError(f"runtime attribute ulimits: {name}'s softLimit is above its hardLimit")
        result.append({"name": name, **limits})
    return result


def disks(runtime: Mapping, container_root: str) -> list[tuple[str, int, str]]:
    """Return (mount point, GiB, type) of Cromwell's disks attribute ("local-disk 100 SSD, /data 50 HDD")."""
    value = runtime.get("disks")
    if value in (None, ""):
        return []
    result = []
    for part in (value if isinstance(value, list) else str(value).split(",")):
        words = str(part).split()
        if len(words) != 3 or not words[1].isdigit() or words[2].upper() not in DISK_TYPES:
            raise ValueError(f"runtime attribute disks: {str(part).strip()!r} is not like 'local-disk 100 SSD' "
                             "or '/mount/point 50 HDD'")
        mount = container_root if words[0] == "local-disk" else words[0]
        if not _MOUNT.match(mount) or ".." in mount:
            raise ValueError(f"runtime attribute disks: {words[0]!r} is not local-disk or an absolute mount point")
        size = int(words[1])
        if not 1 <= size <= MAX_DISK_GIB:
            raise ValueError(f"runtime attribute disks: {words[0]} size must be 1 to {MAX_DISK_GIB} GiB")
        result.append((mount, size, words[2].upper()))
    return result


def additional_tags(runtime: Mapping) -> dict:
    """Return the additionalTags map, checked against AWS's tag rules."""
    value = runtime.get("additionalTags")
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"runtime attribute additionalTags must be a map of tag names to values, not {value!r}")
    if len(value) > MAX_ADDITIONAL_TAGS:
        raise ValueError(f"runtime attribute additionalTags has {len(value)} tags; at most {MAX_ADDITIONAL_TAGS} "
                         "fit beside Batchsite's and the team's within AWS's 50")
    for key, text in value.items():
        if not _TAG_KEY.match(str(key)) or str(key).lower().startswith(("aws:", "batchsite:")):
            raise ValueError(f"runtime attribute additionalTags: {key!r} is not a tag name AWS takes "
                             "(1-128 letters, digits, spaces and _ . : / = + - @; not aws: or batchsite:)")
        if not _TAG_VALUE.match(str(text)):
            raise ValueError(f"runtime attribute additionalTags: the value of {key!r} is not a tag value AWS takes")
    return {str(k): str(v) for k, v in value.items()}


def _bool(runtime: Mapping, name: str) -> bool:
    value = runtime.get(name, False)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValueError(f"runtime attribute {name} must be true or false, not {value!r}")


def log_group(runtime: Mapping) -> str:
    """Return the CloudWatch log group of the job (logGroupName)."""
    name = runtime.get("logGroupName") or DEFAULT_LOG_GROUP
    if not isinstance(name, str) or not _LOG_GROUP.match(name):
        raise ValueError(f"runtime attribute logGroupName {name!r} is not a CloudWatch log group name")
    return name


def queue(runtime: Mapping) -> str:
    """Return queueArn as given, after checking it names a job queue."""
    value = runtime.get("queueArn") or ""
    if value and (not isinstance(value, str) or not _QUEUE.match(value)):
        raise ValueError(f"runtime attribute queueArn {value!r} is not a job queue name or ARN")
    return value


def definition_extras(runtime: Mapping, *, container_root: str) -> str:
    """Return, as canonical JSON, what the attributes add to the job definition request."""
    request: dict = {}
    properties: dict = {}
    if strategy := retry_strategy(runtime):
        request["retryStrategy"] = strategy
    if (timeout := _int(runtime, "jobTimeout", MIN_TIMEOUT_SECONDS)) is not None:
        request["timeout"] = {"attemptDurationSeconds": timeout}
    if limits := ulimits(runtime):
        properties["ulimits"] = limits
    if runtime.get("sharedMemorySize") not in (None, ""):
        shm = runtime["sharedMemorySize"]
        # Cromwell's default unit is MB; a bare number is MiB, as Batch takes it.
        from .jobs import memory_mib  # jobs imports this module

        size = int(shm) if isinstance(shm, int) or str(shm).strip().isdigit() else memory_mib(shm)
        if size < 1:
            raise ValueError("runtime attribute sharedMemorySize must be at least 1 MiB")
        properties["linuxParameters"] = {"sharedMemorySize": size}
    mounts = disks(runtime, container_root)
    if mounts:
        properties["volumes"] = [{"name": f"disk-{i}", "host": {"sourcePath": m}} for i, (m, _, _) in enumerate(mounts)]
        properties["mountPoints"] = [{"sourceVolume": f"disk-{i}", "containerPath": m, "readOnly": False}
                                     for i, (m, _, _) in enumerate(mounts)]
    if (group := log_group(runtime)) != DEFAULT_LOG_GROUP:
        properties["logConfiguration"] = {"logDriver": "awslogs", "options": {"awslogs-group": group}}
    tags = additional_tags(runtime)
    if _bool(runtime, "tagResources"):
        # The definition itself carries the task's tags, and hands them to the ECS tasks it runs.
        request["propagateTags"] = True
        if tags:
            request["tags"] = tags
    if properties:
        request["containerProperties"] = properties
    return json.dumps(request, sort_keys=True)


def check(runtime: Mapping, *, container_root: str) -> None:
    """Raise ValueError naming the first attribute AWS Batch cannot take."""
    queue(runtime)
    _int(runtime, "gpuCount", 0, 64)
    definition_extras(runtime, container_root=container_root)


def gpus(runtime: Mapping) -> int:
    """Return the GPUs a job asks for (gpuCount)."""
    return _int(runtime, "gpuCount", 0, 64) or 0
