"""The AWS Batch backend: the only code that calls Batch, S3 and CloudWatch Logs (with boto3).

A call attempt is a Batch job. Its job script goes to s3://<scriptBucketName>/<run prefix><md5>
(identical scripts are stored once); the shards of one scatter that are submitted together go
as one array job whose children read their scripts from one bundle object. Job definitions are
shared by every run with the same (image, job role, registry credential, retries) and carry the
role as jobRoleArn. Jobs carry deterministic names and batchsite:* tags, so a submission whose
reply was lost is found again (find) instead of being started twice. See scripts.py for what
the compute environment must provide.

A handle is a Batch job id; a child of an array job is "<parent job id>:<index>".
"""
import contextlib
import hashlib
import json
import math
import os
import random
import threading
import time
from collections import OrderedDict, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Mapping, Sequence

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batchsite.config import AwsConfig, ProviderConfig
from workflows.backends.base import JobSpec, JobState, Resources, Submitted, TransientBackendError

from . import attributes as batch_attributes
from . import jobs as batch_jobs
from . import scripts
from .caching import CacheFiles
from .client import aws_call, chunks, error_code, queue_capacity, throttled, transient
from .housekeeping import Housekeeping
from .jobs import ENDED, MAX_ARRAY, QUEUED, STARTED, job_failure
from .logs import JobLogs, log_location
from .outputs import OutputFiles
from .workspace import S3Workspace, split_uri

DESCRIBE_MAX = 100  # ids per DescribeJobs call
STORED_TRUST_SECONDS = 600  # how long a script this process put is assumed to be still in S3
THREADS = 32
# Logs of jobs that died before archiving their own are copied by poll, this many per cycle at
# most: GetLogEvents is rate-limited, and a mass failure must not stall polling.
ARCHIVES_PER_POLL = 20


class AwsBatchBackend(JobLogs, Housekeeping, CacheFiles, OutputFiles):
    """Run call attempts as AWS Batch jobs of one provider (see the module docstring)."""

    retry_base_seconds = 0.5
    collect_threads = 16  # finished calls whose files are fetched from S3 at once
    dispatch_batch = None  # every free slot at once: a scatter's shards go out as one array job
    log_streams = ("log", "stdout", "stderr")  # the job's CloudWatch stream first
    clock = staticmethod(time.monotonic)  # seconds since boot: when a stored script was last known there

    def __init__(self, provider: ProviderConfig, aws: AwsConfig, *, poll_seconds: float = 5.0):
        self.name = provider.name
        self.poll_seconds = poll_seconds
        self.provider = provider
        self.defaults = provider.default_runtime_attributes
        self.script_bucket = provider.script_bucket_name
        self.container_root = str(provider.raw.get("container-root") or "/cromwell_root").rstrip("/")
        self.attempts = provider.num_submit_attempts
        config = Config(region_name=aws.region, max_pool_connections=2 * THREADS,
                        retries={"mode": "adaptive", "total_max_attempts": provider.num_submit_attempts})
        session = boto3.session.Session()
        self.batch = session.client("batch", config=config)
        # SubmitJob is not idempotent: boto3 retrying one whose reply was lost would start a
        # second job. Submissions are retried in _submit_job, after looking the job up by name.
        self.submitter = session.client("batch", config=config.merge(Config(retries={"mode": "adaptive", "total_max_attempts": 1})))
        self.registrar = session.client("batch", config=config.merge(
            Config(retries={"mode": "adaptive", "total_max_attempts": provider.num_create_definition_attempts})))
        # SigV4 also for presigned download URLs (boto3 would presign some with SigV2, which AWS is retiring)
        self.s3 = session.client("s3", config=config.merge(Config(signature_version="s3v4")))
        self.logs = session.client("logs", config=config)
        self.secrets = session.client("secretsmanager", config=config)
        self._hub_secret = ""  # ARN of the secret holding the provider's raw dockerhub token
        self._lock = threading.Lock()
        self._definitions: dict[str, tuple[str, str]] = {}  # name -> (arn, day last tagged used)
        self._stored: OrderedDict[tuple[str, str], float] = OrderedDict()  # scripts put, and when
        self._arrays: OrderedDict[str, tuple] = OrderedDict()  # parent id -> (statusSummary, {handle: state})
        self._streams: OrderedDict[str, tuple[str, str]] = OrderedDict()  # handle -> CloudWatch (group, stream)
        self._capacities: dict[str, str] = {}  # job queue -> "spot" | "on-demand"

    def run_root(self, wdl_name: str, run_id) -> str:
        return f"{self.provider.root.rstrip('/')}/{wdl_name}/{run_id}"

    # ---- the local side of a call ------------------------------------------------------

    @contextlib.contextmanager
    def workspace(self, call_dir: str, *, finished: bool = False):
        space = S3Workspace(self.s3, call_dir, self.container_root)
        try:
            if finished:
                with aws_call("fetching the call's execution directory"):
                    space.fetch_execution()
            yield space
        finally:
            space.close()

    # ---- submit --------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSpec]) -> list[Submitted]:
        texts = [self._script(job) for job in jobs]
        groups: dict[tuple, list[int]] = defaultdict(list)
        for index, job in enumerate(jobs):
            groups[self._group(job)].append(index)
        plans, objects = [], {}
        for key, indexes in groups.items():
            for chunk in chunks(indexes, MAX_ARRAY):
                body = texts[chunk[0]] if len(chunk) == 1 else scripts.bundle(
                    [texts[i] for i in chunk], [jobs[i].name for i in chunk])
                script_key = jobs[chunk[0]].script_prefix + hashlib.md5(body).hexdigest()
                objects[script_key] = body
                plans.append((key, chunk, script_key, len(body)))
        self._store(objects)
        results: list[Submitted | None] = [None] * len(jobs)
        # Looked up before any SubmitJob, so nothing fails between a submission and its handles.
        capacities = {key[0]: self._capacity(key[0]) for key, *_ in plans}
        for (queue, definition, resources, _, _, extra_tags), chunk, script_key, size in plans:
            first = jobs[chunk[0]]
            url = f"s3://{self.script_bucket}/{script_key}"
            asked = dict(resources)
            spent = Resources(queue=queue, capacity=capacities[queue], vcpus=asked["VCPU"],
                              memory_mib=asked["MEMORY"], gpus=asked.get("GPU", 0))
            # propagateTags: the ECS tasks carry the job's tags, so cost allocation sees them.
            request = dict(jobQueue=queue, jobDefinition=self._definition(*definition), propagateTags=True,
                           containerOverrides=batch_jobs.overrides(len(chunk), url, resources))
            extra = json.loads(extra_tags)
            if len(chunk) == 1:
                handles = [self._submit_job(dict(request, jobName=first.name,
                                                 tags=batch_jobs.tags({**extra, **first.tags})))]
            else:
                parent = self._submit_job(dict(request, jobName=f"{first.name}-x{len(chunk)}"[:128],
                                               tags={**batch_jobs.tags(extra),
                                                     **batch_jobs.array_tags([jobs[i] for i in chunk])},
                                               arrayProperties={"size": len(chunk)}))
                handles = [f"{parent}:{n}" for n in range(len(chunk))]
            for index, handle in zip(chunk, handles):
                results[index] = Submitted(handle=handle, script_bucket=self.script_bucket,
                                           script_key=script_key, script_size=size, resources=spent)
        return results

    def check(self, job: JobSpec) -> None:
        """Raise ValueError naming what keeps the job from being submitted (no queue, bad memory, ...)."""
        _, (_, _, credential, _), *_ = self._group(job)  # checks the runtime attributes too
        if credential and not self.provider.execution_role_arn:
            raise ValueError(f"a private registry credential ({credential}) applies, and AWS Batch pulls with it "
                             f"only under an execution role: set execution-role-arn in the {self.name} "
                             "provider's config")

    def check_runtime(self, runtime: Mapping) -> None:
        batch_attributes.check(runtime, container_root=self.container_root)

    def _script(self, job: JobSpec) -> bytes:
        work_dir = f"{self.container_root}/{job.call_dir.removeprefix('s3://')}/execution"
        return scripts.job_script(call_dir=job.call_dir, work_dir=work_dir, command=job.command,
                                  files=job.files).encode()

    def _group(self, job: JobSpec) -> tuple:
        return batch_jobs.group(job, defaults=self.defaults, queue=self.provider.queue_arn,
                                credential=self._provider_credential(), container_root=self.container_root)

    def _provider_credential(self) -> str:
        """Return the Secrets Manager ARN of the provider's dockerhub credential, or ""."""
        hub = self.provider.dockerhub
        if hub is None or hub.secret_arn:
            return hub.secret_arn if hub else ""
        if not self._hub_secret and (login := hub.login()):
            self._hub_secret = self._registry_secret(*login)
        return self._hub_secret

    def _registry_secret(self, username: str, password: str) -> str:
        """Keep a raw dockerhub token where Batch can use it: a Secrets Manager secret named after
        the provider and a hash of the credential (a new token makes a new secret); return its ARN."""
        digest = hashlib.sha256(f"{username}:{password}".encode()).hexdigest()[:16]
        name = f"batchsite/{self.name}/dockerhub-{digest}"
        with aws_call("storing the dockerhub credential in Secrets Manager"):
            try:
                return self.secrets.describe_secret(SecretId=name)["ARN"]
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
            try:
                return self.secrets.create_secret(
                    Name=name, SecretString=json.dumps({"username": username, "password": password}),
                    Description=f"Docker Hub login of Batchsite's {self.name} provider (its dockerhub config)",
                    Tags=[{"Key": "batchsite:provider", "Value": self.name}])["ARN"]
            except ClientError as exc:  # another worker made it first
                if error_code(exc) != "ResourceExistsException":
                    raise
                return self.secrets.describe_secret(SecretId=name)["ARN"]

    def _store(self, objects: dict[str, bytes]) -> None:
        """Put the scripts S3 does not have yet; a script already there is left as it is."""
        # Trusted only briefly: retention may delete a script another process put long ago.
        fresh = self.clock() - STORED_TRUST_SECONDS  # may be negative on a host just booted
        missing = {k: v for k, v in objects.items() if self._stored.get((self.script_bucket, k), -math.inf) < fresh}

        def put(key: str) -> None:
            try:
                self.s3.put_object(Bucket=self.script_bucket, Key=key, Body=missing[key], IfNoneMatch="*")
            except ClientError as exc:
                if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
        with aws_call("storing job scripts"), ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(put, missing))
        with self._lock:
            now = self.clock()
            for key in missing:
                self._stored[(self.script_bucket, key)] = now
                self._stored.move_to_end((self.script_bucket, key))
            while len(self._stored) > 100_000:
                self._stored.popitem(last=False)

    def _definition(self, image: str, role: str, credential: str, extras: str) -> str:
        """Return the ARN of the job definition for this signature, registering it the first time."""
        name, request = batch_jobs.definition_request(image, role, credential, extras,
                                                      self.provider.execution_role_arn or "")
        today = date.today().isoformat()
        arn, tagged = self._definitions.get(name, ("", ""))
        with aws_call("finding the job definition"):
            if not arn:
                found = self.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
                if found:
                    latest = max(found, key=lambda d: d["revision"])
                    arn, tagged = latest["jobDefinitionArn"], latest.get("tags", {}).get("batchsite:last-used", "")
                else:
                    arn = self.registrar.register_job_definition(
                        jobDefinitionName=name, **{**request, "tags": {**request.get("tags", {}),
                                                                       "batchsite:last-used": today}}
                    )["jobDefinitionArn"]
                    tagged = today
            if tagged != today:  # deregister_unused() goes by this tag
                self.batch.tag_resource(resourceArn=arn, tags={"batchsite:last-used": today})
        self._definitions[name] = (arn, today)
        return arn

    def _capacity(self, queue: str) -> str:
        """Return "spot" or "on-demand" for the queue (looked up once per process)."""
        if queue not in self._capacities:
            self._capacities[queue] = queue_capacity(self.batch, queue)
        return self._capacities[queue]

    def _submit_job(self, request: dict) -> str:
        """Submit one job, retrying throttling; after an unclear failure, look for it by name first."""
        for attempt in range(self.attempts):
            try:
                return self.submitter.submit_job(**request)["jobId"]
            except (ClientError, BotoCoreError) as exc:
                if not transient(exc):
                    raise
                failure = exc
                if not throttled(exc):  # the job may exist: its reply is what was lost
                    found = self._job_named(request["jobName"], request["jobQueue"])
                    if found:
                        return found
            time.sleep(min(20.0, self.retry_base_seconds * 2 ** attempt) * random.uniform(0.5, 1.0))
        raise TransientBackendError(f"submitting {request['jobName']}: {failure}")

    def _list_jobs(self, queue: str, name: str) -> list[dict]:
        """Return the top-level jobs in the queue named name (a trailing * matches a prefix), oldest first."""
        summaries = []
        with aws_call("listing jobs"):
            pages = self.batch.get_paginator("list_jobs").paginate(
                jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])
            for page in pages:
                summaries += [s for s in page["jobSummaryList"] if ":" not in s["jobId"]]
        return sorted(summaries, key=lambda s: s.get("createdAt", 0))

    def _job_named(self, name: str, queue: str) -> str | None:
        jobs = self._list_jobs(queue, name)
        return jobs[0]["jobId"] if jobs else None

    # ---- find, poll, terminate -----------------------------------------------------------

    def find(self, jobs: Sequence[JobSpec]) -> dict[str, str]:
        names = {job.name for job in jobs}
        queues = {({**self.defaults, **job.runtime}).get("queueArn") or self.provider.queue_arn for job in jobs}
        # Names are <run part>-<call>-a<attempt>: one listing per run finds single and array jobs.
        prefixes = {(name.rsplit("-", 2)[0] + "-*") if name.count("-") >= 3 else name for name in names}
        found, others = {}, []
        for queue in filter(None, queues):
            for prefix in prefixes:
                for summary in self._list_jobs(queue, prefix):
                    if summary["jobName"] in names:
                        found.setdefault(summary["jobName"], summary["jobId"])
                    else:
                        others.append(summary["jobId"])
        if names - found.keys() and others:
            for detail in self._describe(others).values():
                env = {e["name"]: e["value"] for e in detail.get("container", {}).get("environment", [])}
                if env.get("BATCH_FILE_TYPE") != "bundle":
                    continue
                children = scripts.bundle_names(lambda byte_range: self._get(env["BATCH_FILE_S3_URL"], byte_range))
                for index, name in enumerate(children):
                    if name in names:
                        found.setdefault(name, f"{detail['jobId']}:{index}")
        return found

    def _describe(self, ids: list[str]) -> dict[str, dict]:
        details = {}
        with aws_call("describing jobs"):
            for chunk in chunks(list(dict.fromkeys(ids)), DESCRIBE_MAX):
                details.update((d["jobId"], d) for d in self.batch.describe_jobs(jobs=chunk)["jobs"])
        return details

    def poll(self, handles: Mapping[str, str]) -> dict[str, JobState]:
        call_dirs = dict(handles) if isinstance(handles, Mapping) else dict.fromkeys(handles, "")
        arrays: dict[str, list[str]] = defaultdict(list)
        for handle in call_dirs:
            if ":" in handle:
                arrays[handle.split(":")[0]].append(handle)
        details = self._describe([h for h in call_dirs if ":" not in h] + list(arrays))
        states: dict[str, JobState] = {}
        fetch, summaries = [], {}
        for parent, children in arrays.items():
            summary = details.get(parent, {}).get("arrayProperties", {}).get("statusSummary")
            summaries[parent] = summary
            seen_summary, seen = self._arrays.get(parent, (None, {}))
            if summary is not None and summary == seen_summary and all(c in seen for c in children):
                states.update((c, seen[c]) for c in children)  # nothing changed since last time
            elif summary is not None and not any(summary.get(s) for s in STARTED | ENDED):
                states.update((c, JobState(JobState.QUEUED)) for c in children)
            elif summary is not None:
                fetch += children  # only arrays whose summary moved cost DescribeJobs of children
        details.update(self._describe(fetch))
        ended = {}
        for handle in call_dirs:
            if handle in states:
                continue
            detail = details.get(handle)
            status = detail["status"] if detail else None
            if status in QUEUED:
                states[handle] = JobState(JobState.QUEUED)
            elif status in STARTED:
                states[handle] = JobState(JobState.RUNNING)
            else:  # ended, or no longer known to Batch: the call directory tells
                ended[handle] = detail
        rcs = self._read_rcs({h: call_dirs[h] for h in ended})
        archives = ARCHIVES_PER_POLL
        for handle, detail in ended.items():
            states[handle] = self._ended(handle, detail, rcs[handle], call_dirs[handle], archive=archives > 0)
            archives -= states[handle].rc is None
        with self._lock:
            for parent, children in arrays.items():
                self._arrays[parent] = (summaries[parent], {c: states[c] for c in children})
                self._arrays.move_to_end(parent)
            while len(self._arrays) > 2_000:
                self._arrays.popitem(last=False)
        return states

    def _read_rcs(self, call_dirs: dict[str, str]) -> dict[str, int | None]:
        def read(call_dir: str) -> int | None:
            data = self._get(f"{call_dir}/execution/rc") if call_dir else None
            try:
                return int(data.strip()) if data is not None else None
            except ValueError:
                return None
        with ThreadPoolExecutor(THREADS) as pool:
            return dict(zip(call_dirs, pool.map(read, call_dirs.values())))

    def _ended(self, handle: str, detail: dict | None, rc: int | None, call_dir: str, *, archive: bool) -> JobState:
        times = batch_jobs.run_times(detail or {})
        if rc is not None:  # the job script writes rc last, after the outputs: the call ran
            return JobState(JobState.DONE, rc=rc, **times)
        if detail is None:
            return JobState(JobState.DONE, reason=f"AWS Batch does not know job {handle} and it left no rc file")
        reason = job_failure(detail)
        group, log_stream = log_location(detail)
        if log_stream:
            reason += f" (log: CloudWatch {group} {log_stream})"
            if archive and call_dir:
                self._archive_log(group, log_stream, call_dir)
        return JobState(JobState.DONE, reason=reason, preempted=batch_jobs.reclaimed(detail), **times)

    def terminate(self, handles: Sequence[str]) -> None:
        jobs = [h for h in handles if ":" not in h]
        children: dict[str, set[str]] = defaultdict(set)
        for handle in handles:
            if ":" in handle:
                children[handle.split(":")[0]].add(handle)
        sizes = {p: d.get("arrayProperties", {}).get("size") for p, d in self._describe(list(children)).items()}
        for parent, handles_ in children.items():
            # Terminating a parent terminates its children: one call when all of them go.
            jobs += [parent] if sizes.get(parent) == len(handles_) else sorted(handles_)
        with aws_call("terminating jobs"):
            for job_id in jobs:
                self.batch.terminate_job(jobId=job_id, reason="Aborted in Batchsite")


    # ---- files ---------------------------------------------------------------------------

    def _get(self, uri: str, byte_range: str = "") -> bytes | None:
        """Return an S3 object's bytes (or a range of them), None when it does not exist."""
        bucket, key = split_uri(uri)
        try:
            with aws_call(f"reading {uri}"):
                return self.s3.get_object(Bucket=bucket, Key=key, **({"Range": byte_range} if byte_range else {}))["Body"].read()
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":
                return b""
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise

    def read_text(self, path: str) -> str:
        data = self._get(path)
        if data is None:
            raise FileNotFoundError(path)
        return data.decode("utf-8", errors="replace")

    def localize(self, uri: str, *, into: str) -> str:
        """Return a local copy of an s3:// file under into/, for workflow expressions that read it."""
        if not uri.startswith("s3://"):
            raise OSError(f"cannot read {uri}: the AWS Batch backend reads only s3:// files")
        local = os.path.join(into, uri.removeprefix("s3://"))
        if not os.path.exists(local):
            data = self._get(uri)
            if data is None:
                raise OSError(f"cannot read {uri}: no such object")
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local + ".part", "wb") as f:
                f.write(data)
            os.replace(local + ".part", local)
        return local

    def publish(self, path: str, *, under: str) -> str:
        """Store a file a workflow expression wrote under the run's directory; return its s3:// URI.

        The key holds a hash of the content, so publishing the same file again changes nothing.
        """
        with open(path, "rb") as f:
            data = f.read()
        uri = f"{under.rstrip('/')}/workflow-files/{hashlib.sha256(data).hexdigest()[:20]}/{os.path.basename(path)}"
        bucket, key = split_uri(uri)
        with aws_call(f"storing {uri}"):
            self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        return uri

