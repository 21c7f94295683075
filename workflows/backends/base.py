"""The protocol every backend speaks: submit, find, poll, terminate, read logs, clean up."""
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Mapping, Protocol, Sequence


class TransientBackendError(Exception):
    """A backend call that may succeed if tried again (throttling, a dropped connection)."""


@dataclass(frozen=True)
class StagedFile:
    """A file the job must find at job_path before its command runs: fetched from uri, or content."""

    job_path: str
    # an input the job downloads (s3://bucket/key; a key prefix for a Directory), or for a job on
    # this host the host path its sandbox binds read-only at job_path
    uri: str = ""
    content: bytes = b""  # a file write_*() made on this host while the command was evaluated


@dataclass(frozen=True)
class JobSpec:
    """One call attempt to run: a bash command in its call directory."""

    name: str  # deterministic, so a lost submit reply can be found again
    call_dir: str  # the attempt's directory under the provider's root
    command: str  # the task's evaluated command, run by bash in <call_dir>/execution
    runtime: dict = field(default_factory=dict)
    script_prefix: str = "scripts/"
    job_role_arn: str = ""
    tags: dict = field(default_factory=dict)
    registry_credential_arn: str = ""  # the team's Secrets Manager secret for its private registry
    files: tuple[StagedFile, ...] = ()  # what a remote job must be given (Workspace.staged)


@dataclass(frozen=True)
class JobState:
    """What a backend knows of a job: queued, running or done (with the command's rc)."""

    status: str  # "queued" | "running" | "done"
    rc: int | None = None
    reason: str = ""
    preempted: bool = False  # done because the host went away (a Spot reclaim), not because of the job
    # When the job's container started and stopped, where the backend says: measurements, which do
    # not make two states differ.
    started_at: datetime | None = field(default=None, compare=False)
    stopped_at: datetime | None = field(default=None, compare=False)

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"


@dataclass(frozen=True)
class Submitted:
    """A job the backend accepted: its handle, and the script it stored under the run's prefix."""

    handle: str
    script_bucket: str
    script_key: str
    script_size: int
    resources: "Resources | None" = None


@dataclass(frozen=True)
class Resources:
    """What a job asked for, as its cost is priced: where it queued, on what capacity, how big it was."""

    queue: str = ""
    capacity: str = "on-demand"  # or "spot"
    vcpus: int = 1
    memory_mib: int = 0
    gpus: int = 0


class Workspace(Protocol):
    """A local directory where the engine evaluates a call, and how its paths look to the job.

    For a backend whose jobs see this host's files (local) the maps are the identity; for a
    remote one (AWS Batch) work_dir is a scratch mirror of the call's execution directory.
    """

    work_dir: str  # engine.prepare/collect evaluate here
    stdout: str
    stderr: str

    def job_path(self, path: str) -> str:
        """Return the path the job's command sees for a host path or URI (engine map_path at prepare)."""

    def stored_path(self, path: str) -> str:
        """Return where a file the job produced is kept, for a path under work_dir (map_path at collect)."""

    def localize(self, uri: str) -> str:
        """Return a local copy of a remote file, for the standard library's read_*(); raise OSError.

        A local path comes back as it is, unless it is the stand-in of an output too big to fetch
        ahead (see S3Workspace): that is fetched now.
        """

    def staged(self) -> tuple[StagedFile, ...]:
        """Return the files the job must be given: every path job_path was asked about."""


class Backend(Protocol):
    """Everything the services ask of a backend; they never look at which kind it is."""

    name: str
    collect_threads: int  # finished calls whose outputs are collected at once (1 where files are local)
    poll_seconds: float  # how long to wait between two polls while it has active jobs
    dispatch_batch: int | None  # calls one dispatch claims at most, the rest left to a dispatch in another worker
    log_streams: tuple[str, ...]  # the logs a call keeps, the one to show first first

    def run_root(self, wdl_name: str, run_id) -> str:
        """Return where a run's call directories go: <provider root>/<workflow name>/<run id>."""

    def workspace(self, call_dir: str, *, finished: bool = False) -> AbstractContextManager[Workspace]:
        """Lend a local directory to evaluate the call in; finished: holding what its job left."""

    def check(self, job: JobSpec) -> None:
        """Raise ValueError naming what keeps the job from being submitted; return if nothing does."""

    def check_runtime(self, runtime: Mapping) -> None:
        """Raise ValueError naming a runtime attribute the backend cannot take (only those given are judged).

        Run submission calls it with a task's literal attributes, so a bad value is refused before any job.
        """

    def submit(self, jobs: Sequence[JobSpec]) -> list[Submitted]:
        """Start the jobs (each one check()ed); return one Submitted per job, in order."""

    def find(self, jobs: Sequence[JobSpec]) -> dict[str, str]:
        """Return {job name: handle} for jobs that were started before (a lost reply)."""

    def poll(self, handles: Mapping[str, str]) -> dict[str, JobState]:
        """Return the state of each job ({handle: call_dir}); an unknown handle is done with rc None."""

    def terminate(self, handles: Sequence[str]) -> None:
        """Stop the jobs (already finished ones are left alone)."""

    def read_log(self, handle: str, call_dir: str, stream: str, offset: int | str = 0) -> tuple[str, int | str]:
        """Return the stream's text from offset and the offset to ask from next time.

        stream is "stdout", "stderr" or, for AWS Batch, "log" (the job's CloudWatch stream, whose
        offsets are opaque forward tokens); pass back whatever offset the last call returned.
        """

    def localize(self, uri: str, *, into: str) -> str:
        """Return a local copy of a remote file under into/ (workflow-level read_*()); raise OSError."""

    def publish(self, path: str, *, under: str) -> str:
        """Return where jobs find a file a workflow expression wrote on this host (write_*()),
        storing it under the run's directory `under` first if jobs cannot read this host's files."""

    def read_text(self, path: str) -> str:
        """Return a file the job wrote (rc, stdout, an output) as text."""

    # ---- a run's output files, for the browser -----------------------------------------------

    def output_open(self, path: str, *, under: str, length: int | None = None) -> tuple[BinaryIO, int]:
        """Open a file a run produced in its directory `under`; return it (read from the start; close it) and its size.

        length: the caller reads at most that much. Raise FileNotFoundError when the file is gone, and
        OSError naming why for anything else refused: not under `under`, or a link out of the call directory.
        """

    def output_url(self, path: str, *, under: str, filename: str) -> str | None:
        """Return a short-lived URL the browser downloads the file from as filename, or None when the web
        process must stream it (output_open); raise as output_open does."""

    # ---- call caching ------------------------------------------------------------------------

    def file_hashes(self, paths: Sequence[str]) -> dict[str, str | None]:
        """Return {path: a hash of its content} (a Directory: of its whole tree); None where nothing is there."""

    def image_digests(self, images: Sequence[str]) -> dict[str, str | None]:
        """Return {image: what identifies its content}; None for a tag that cannot be resolved (no caching)."""

    def duplicate(self, paths: Sequence[str], *, from_dir: str, into_dir: str) -> dict[str, str]:
        """Bring a cached call's output files and its stdout, stderr and rc into a new call directory the way
        the provider's duplication-strategy says; return {old path: new path}; raise FileNotFoundError
        naming a file that is gone (files outside from_dir are referenced where they are)."""

    # ---- housekeeping: cleanup, retention and orphans ---------------------------------------

    def script_sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """Return {key: size} of every stored script under the prefix (bucket "" for Batchsite's storage)."""

    def delete_scripts(self, bucket: str, sizes: Mapping[str, int]) -> tuple[list[str], int, list[str]]:
        """Delete the scripts ({key: size}); return (deleted keys, their bytes, errors)."""

    def tree_usage(self, root: str) -> tuple[int, int]:
        """Return how many files a run's directory holds and their bytes (links are not followed)."""

    def tree_delete(self, root: str) -> None:
        """Delete a run's directory; leave alone anything not under the provider's root, and links."""

    def active_jobs(self) -> dict[str, dict]:
        """Return {handle: tags} of Batchsite's jobs that have not ended, for the orphan reconciler."""

    def deregister_unused(self, older_than_days: int) -> list[str]:
        """Retire what the backend registered for jobs (job definitions) unused that long; return them."""


def path_within(path: str, folder: str) -> bool:
    """Tell whether path is folder or lies under it (both absolute, already resolved as the caller needs)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


class HostWorkspace:
    """The workspace of a backend whose jobs run on this host: the call's own execution directory."""

    def __init__(self, call_dir: str):
        self.work_dir = f"{call_dir}/execution"
        self.stdout = f"{self.work_dir}/stdout"
        self.stderr = f"{self.work_dir}/stderr"
        self._inputs: dict[str, None] = {}  # the host paths the command was given, in order

    def job_path(self, path: str) -> str:
        if "://" not in path:
            self._inputs[path] = None
        return path

    def stored_path(self, path: str) -> str:
        return path

    def localize(self, uri: str) -> str:
        if "://" not in uri:
            return uri
        raise OSError(f"cannot read {uri}: this backend reads only files on this host")

    def staged(self) -> tuple[StagedFile, ...]:
        """Return the command's File and Directory inputs: the sandbox binds them read-only."""
        return tuple(StagedFile(job_path=path, uri=path) for path in self._inputs)
