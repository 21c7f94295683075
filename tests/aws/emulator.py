"""A compute environment for tests: an HTTP proxy in front of moto's server that runs Batch jobs.

moto (with docker off) marks every job SUCCEEDED the moment it is submitted and runs nothing.
The emulator forwards every request to moto and, for each job SubmitJob accepts (each child of
an array job), really runs the job definition's command on this host: with the job's
environment, AWS_BATCH_JOB_ARRAY_INDEX set per child, AWS_ENDPOINT_URL at moto, and the `aws`
shim (aws_shim.py) first on PATH. Its output is written, line by line, to moto's CloudWatch
Logs (/aws/batch/job). DescribeJobs and ListJobs replies are rewritten to say what really
happened: RUNNABLE, STARTING, RUNNING, then SUCCEEDED or FAILED by the exit code, with the
parent of an array job PENDING until every child has ended and a statusSummary that counts them.
TerminateJob kills the job (a parent: all its children).

Tests can also make it answer 429 TooManyRequestsException to the next calls of an action
(throttle), forward a call but lose its reply (lose_reply), forward a call and hold its reply
until released (hold_reply, so a client can be killed while it waits), end a running job as
AWS would after a Spot reclaim or an out-of-memory kill (interrupt), or reclaim the hosts of the
next jobs that start (reclaim_next). It records every Batch request, and reports startedAt and
stoppedAt (epoch milliseconds) as Batch does.
"""
import contextlib
import http.client
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import boto3

SHIM = Path(__file__).with_name("aws_shim.py")
ENDED = ("SUCCEEDED", "FAILED")
LOG_GROUP = "/aws/batch/job"


@dataclass
class Job:
    job_id: str
    name: str
    definition_name: str
    command: list
    environment: dict
    index: int | None = None
    children: list = field(default_factory=list)
    status: str = "SUBMITTED"
    status_reason: str = ""
    container_reason: str = ""
    exit_code: int | None = None
    started_at: int | None = None  # epoch milliseconds, as Batch reports them
    stopped_at: int | None = None
    log_group: str = LOG_GROUP  # the definition's awslogs-group (the runtime attribute logGroupName)
    log_stream: str = ""
    process: subprocess.Popen | None = None
    stop_reason: tuple | None = None  # (statusReason, container reason) once terminated or interrupted


class Emulator:
    """Proxy Batch, S3 and Logs calls to moto at moto_url and run submitted jobs here."""

    def __init__(self, moto_url: str, *, slots: int = 8, region: str = "us-east-1"):
        self.moto_url = moto_url
        self.moto = urlparse(moto_url)
        self.region = region
        self.run_jobs = True
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, dict]] = []  # (Batch action, request body) as received
        self.http: list[tuple[str, str, int]] = []  # (method, path, status) of every request forwarded
        self.throttles: dict[str, int] = defaultdict(int)
        self.reclaims = 0  # the next jobs to start that lose their host
        self.lost_replies: dict[str, int] = defaultdict(int)
        self.held_replies: dict[str, int] = defaultdict(int)
        self.holding = threading.Event()  # set while a reply is held
        self._release = threading.Event()
        self._slots = threading.Semaphore(slots)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._dir = tempfile.mkdtemp(prefix="batchsite-emulator-")
        self._install_shim()
        clients = dict(endpoint_url=moto_url, region_name=region)
        self._batch = boto3.client("batch", **clients)
        self._logs = boto3.client("logs", **clients)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.emulator = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Stop the proxy and kill every job still running."""
        self._release.set()
        self.server.shutdown()
        for job in list(self.jobs.values()):
            self._kill(job, ("emulator closed", ""))
        for thread in self._threads:
            thread.join(timeout=10)
        shutil.rmtree(self._dir, ignore_errors=True)

    # ---- what tests use ------------------------------------------------------------------

    def throttle(self, action: str, times: int) -> None:
        """Answer the next `times` calls of a Batch action (e.g. "submitjob") with 429."""
        self.throttles[action] += times

    def lose_reply(self, action: str, times: int = 1) -> None:
        """Forward the next calls of an action to moto but answer the client 500, as a lost reply."""
        self.lost_replies[action] += times

    def hold_reply(self, action: str) -> None:
        """Forward the next call of a Batch job action to moto but answer only after release() (or close())."""
        self._release.clear()
        self.held_replies[action] += 1

    def release(self) -> None:
        self._release.set()

    def calls(self, action: str) -> list[dict]:
        """Return the bodies of the Batch requests of that action received so far."""
        return [body for name, body in self.requests if name == action]

    def reclaim_next(self, times: int) -> None:
        """End each of the next `times` jobs to start as Batch does when Spot reclaims the host."""
        self.reclaims += times

    def interrupt(self, job_id: str, *, status_reason: str, container_reason: str = "") -> None:
        """End a job as AWS would after a Spot reclaim or an OOM kill."""
        self._kill(self.jobs[job_id], (status_reason, container_reason))

    def wait(self, job_id: str, timeout: float = 60) -> Job:
        """Wait for a job (a parent: all its children) to end and return it."""
        deadline = time.monotonic() + timeout
        job = self.jobs[job_id]
        while time.monotonic() < deadline:
            if self._status(job) in ENDED:
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} is still {self._status(job)}")

    def wait_running(self, job_id: str, timeout: float = 30) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.jobs.get(job_id)
            if job and job.status == "RUNNING":
                return job
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} did not start")

    # ---- running jobs --------------------------------------------------------------------

    def _install_shim(self) -> None:
        shim_dir = Path(self._dir) / "bin"
        shim_dir.mkdir()
        aws = shim_dir / "aws"
        aws.write_text(f"#!{sys.executable}\n" + SHIM.read_text())
        aws.chmod(aws.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.shim_dir = str(shim_dir)

    def _submitted(self, request: dict, reply: dict) -> None:
        definition = self._batch.describe_job_definitions(jobDefinitions=[request["jobDefinition"]])["jobDefinitions"][0]
        properties = definition["containerProperties"]
        environment = {e["name"]: e["value"] for e in properties.get("environment", [])}
        environment.update({e["name"]: e["value"] for e in request.get("containerOverrides", {}).get("environment", [])})
        group = properties.get("logConfiguration", {}).get("options", {}).get("awslogs-group", LOG_GROUP)
        make = dict(name=request["jobName"], definition_name=definition["jobDefinitionName"], log_group=group,
                    command=request.get("containerOverrides", {}).get("command") or properties["command"])
        size = request.get("arrayProperties", {}).get("size")
        parent = Job(job_id=reply["jobId"], environment=environment, **make)
        with self._lock:
            self.jobs[parent.job_id] = parent
            if size:
                parent.status = "PENDING"
                for index in range(size):
                    child = Job(job_id=f"{parent.job_id}:{index}", environment=environment, index=index, **make)
                    parent.children.append(child)
                    self.jobs[child.job_id] = child
        for job in parent.children or [parent]:
            thread = threading.Thread(target=self._run, args=(job,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, job: Job) -> None:
        time.sleep(0.05)
        with self._lock:
            if job.stop_reason:
                return
            job.status = "RUNNABLE"
        with self._slots:
            with self._lock:
                if job.stop_reason:
                    return
                job.status = "STARTING"
            job.log_stream = f"{job.definition_name}/default/{uuid.uuid4().hex}"
            with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
                self._logs.create_log_group(logGroupName=job.log_group)
            self._logs.create_log_stream(logGroupName=job.log_group, logStreamName=job.log_stream)
            workdir = tempfile.mkdtemp(dir=self._dir)
            env = {"PATH": f"{self.shim_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
                   "AWS_ENDPOINT_URL": self.moto_url, "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
                   **job.environment, "AWS_BATCH_JOB_ID": job.job_id, "AWS_BATCH_JOB_ATTEMPT": "1"}
            if job.index is not None:
                env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.index)
            with self._lock:
                if job.stop_reason:
                    return
                job.process = subprocess.Popen(job.command, env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               start_new_session=True)
                job.status = "RUNNING"
                job.started_at = int(time.time() * 1000)
                if self.reclaims > 0:
                    self.reclaims -= 1
                    job.stop_reason = (f"Host EC2 (instance i-{uuid.uuid4().hex[:17]}) terminated.", "")
                    os.killpg(job.process.pid, signal.SIGKILL)
            for line in job.process.stdout:
                self._logs.put_log_events(logGroupName=job.log_group, logStreamName=job.log_stream, logEvents=[
                    {"timestamp": int(time.time() * 1000), "message": line.decode(errors="replace").rstrip("\n")}])
            code = job.process.wait()
            with self._lock:
                job.stopped_at = int(time.time() * 1000)
                if job.stop_reason:
                    job.status_reason, job.container_reason = job.stop_reason
                else:
                    job.exit_code = code
                    job.status = "SUCCEEDED" if code == 0 else "FAILED"
                    job.status_reason = "" if code == 0 else "Essential container in task exited"
                    return
                job.status = "FAILED"

    def _kill(self, job: Job, reason: tuple) -> None:
        for target in job.children or [job]:
            with self._lock:
                if target.status in ENDED:
                    continue
                target.stop_reason = reason
                if target.process is None:  # not started: it never will be
                    target.status, (target.status_reason, target.container_reason) = "FAILED", reason
                    continue
            try:
                os.killpg(target.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # The status turns FAILED when _run sees the process end.

    def _status(self, job: Job) -> str:
        if not job.children:
            return job.status
        statuses = [child.status for child in job.children]
        if all(s in ENDED for s in statuses):
            return "SUCCEEDED" if all(s == "SUCCEEDED" for s in statuses) else "FAILED"
        return "PENDING"

    # ---- rewriting moto's answers --------------------------------------------------------

    def _describe(self, detail: dict) -> dict:
        job = self.jobs.get(detail["jobId"])
        if job is None:
            return detail
        detail["status"] = self._status(job)
        for key in ("statusReason", "startedAt", "stoppedAt"):
            detail.pop(key, None)
        if job.status_reason:
            detail["statusReason"] = job.status_reason
        if job.started_at is not None:
            detail["startedAt"] = job.started_at
        if job.stopped_at is not None and detail["status"] in ENDED:
            detail["stoppedAt"] = job.stopped_at
        container = detail.setdefault("container", {})
        container.pop("exitCode", None)
        container.pop("logStreamName", None)
        if job.exit_code is not None:
            container["exitCode"] = job.exit_code
        if job.container_reason:
            container["reason"] = job.container_reason
        if job.log_stream:
            container["logStreamName"] = job.log_stream
        if job.log_group != LOG_GROUP:  # as Batch reports a definition's log configuration
            container["logConfiguration"] = {"logDriver": "awslogs", "options": {"awslogs-group": job.log_group}}
        if job.children:
            summary = dict.fromkeys(("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"), 0)
            for child in job.children:
                summary[child.status] += 1
            detail["arrayProperties"] = {"statusSummary": summary, "size": len(job.children)}
        elif job.index is not None:
            detail["arrayProperties"] = {"index": job.index}
        return detail

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = _read_body(request)
        action = request.path[len("/v1/"):].split("?")[0] if request.path.startswith("/v1/") else ""
        if action:
            self.requests.append((action, json.loads(body or b"{}")))
            if self.throttles[action] > 0:
                self.throttles[action] -= 1
                return _reply(request, 429, {"__type": "TooManyRequestsException", "message": "Too Many Requests"},
                              {"x-amzn-ErrorType": "TooManyRequestsException"})
        status, headers, data = self._forward(request, body)
        self.http.append((request.command, request.path.split("?")[0], status))
        if action and self.lost_replies[action] > 0:
            self.lost_replies[action] -= 1
            data = json.loads(data) if status == 200 else {}
            if action == "submitjob" and status == 200 and self.run_jobs:
                self._submitted(json.loads(body), data)
            return _reply(request, 500, {"__type": "ServerException", "message": "the reply was lost"})
        if action and status == 200 and action in ("submitjob", "describejobs", "listjobs", "terminatejob"):
            reply = json.loads(data or b"{}")
            if action == "submitjob" and self.run_jobs:
                self._submitted(json.loads(body), reply)
            elif action == "describejobs":
                reply["jobs"] = [self._describe(d) for d in reply["jobs"]]
            elif action == "listjobs":
                for summary in reply["jobSummaryList"]:
                    if summary["jobId"] in self.jobs:
                        summary["status"] = self._status(self.jobs[summary["jobId"]])
            elif action == "terminatejob":
                job = self.jobs.get(json.loads(body)["jobId"])
                if job:
                    self._kill(job, (json.loads(body).get("reason", ""), ""))
            if self.held_replies[action] > 0:
                self.held_replies[action] -= 1
                self.holding.set()
                self._release.wait(timeout=300)
                self.holding.clear()
            return _reply(request, 200, reply)
        request.send_response(status)
        for name, value in headers:
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                request.send_header(name, value)
        length = dict((k.lower(), v) for k, v in headers).get("content-length") if request.command == "HEAD" else None
        request.send_header("Content-Length", length or str(len(data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list, bytes]:
        connection = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=120)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("transfer-encoding", "content-length")}
        headers["Content-Length"] = str(len(body))
        try:
            connection.request(request.command, request.path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, each reply waits for a delayed ACK.
    disable_nagle_algorithm = True

    def _any(self) -> None:
        self.server.emulator.handle(self)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

    def log_message(self, format, *args) -> None:  # quiet: tests read the recorded requests instead
        pass


def _read_body(request: BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(request.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while request.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
    return request.rfile.read(int(request.headers.get("Content-Length") or 0))


def _reply(request: BaseHTTPRequestHandler, status: int, payload: dict, headers: dict | None = None) -> None:
    data = json.dumps(payload).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    with contextlib.suppress(ConnectionError):  # a client killed while its reply was held
        request.wfile.write(data)
