"""The protocol every backend speaks: submit, find, poll, terminate, read logs."""
from dataclasses import dataclass, field
from typing import Protocol, Sequence


class TransientBackendError(Exception):
    """A backend call that may succeed if tried again (throttling, a dropped connection)."""


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


@dataclass(frozen=True)
class JobState:
    """What a backend knows of a job: queued, running or done (with the command's rc)."""

    status: str  # "queued" | "running" | "done"
    rc: int | None = None
    reason: str = ""

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


class Backend(Protocol):
    name: str

    def submit(self, jobs: Sequence[JobSpec]) -> list[Submitted]:
        """Start the jobs; return one Submitted per job, in order."""

    def find(self, jobs: Sequence[JobSpec]) -> dict[str, str]:
        """Return {job name: handle} for jobs that were started before (a lost reply)."""

    def poll(self, handles: Sequence[str]) -> dict[str, JobState]:
        """Return the state of each job; a handle the backend no longer knows is done with rc None."""

    def terminate(self, handles: Sequence[str]) -> None:
        """Stop the jobs (already finished ones are left alone)."""

    def read_log(self, handle: str, call_dir: str, stream: str, offset: int = 0) -> tuple[str, int]:
        """Return the stream's text from offset and the offset to ask from next time."""

    def read_text(self, path: str) -> str:
        """Return a file the job wrote (rc, stdout, an output) as text."""
