"""The embedded backend: each call is a detached bash process in its call directory.

The process runs in its own session (reparented to init), so a worker that dies or
restarts loses nothing: the next poll finds the `rc` file the script writes when it ends.
A job's handle is its execution directory. No container engine: `docker` is ignored.
"""
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from contextlib import nullcontext
from pathlib import Path, PurePosixPath
from typing import Sequence

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from workflows.backends.base import HostWorkspace, JobSpec, JobState, Submitted
from workflows.backends.hashing import content_hash

# A submitted job whose process has not started after this long never will.
START_GRACE_SECONDS = 30
LOG_CHUNK = 256 * 1024
LAUNCH_BATCH = 1000  # scripts per launcher command line, well under the kernel's argument limit


def wrapper_script(*, execution_dir: str, command: str) -> str:
    """Return the bash script that runs a command in its execution dir and records rc."""
    return (
        "#!/bin/bash\n"
        f"cd {shlex.quote(execution_dir)} || exit 1\n"
        "# Exactly once: a second start of this attempt (a repeated submit) finds launch and leaves.\n"
        "(set -o noclobber; echo $$ > launch) 2>/dev/null || exit 0\n"
        "(\n"
        f"{command}\n"
        ") > stdout 2> stderr < /dev/null\n"
        "echo $? > rc.tmp && mv rc.tmp rc\n"
    )


def _alive(pid: int, script: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and script.encode() in cmdline


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


class LocalBackend:
    """Run call commands as detached local processes under the provider's root."""

    collect_threads = 1
    log_streams = ("stdout", "stderr")

    def __init__(self, name: str, root: str, *, poll_seconds: float = 0.1,
                 duplication: tuple[str, ...] = ("hard-link", "soft-link", "copy")):
        self.name = name
        self.root = root
        self.poll_seconds = poll_seconds
        self.duplication = duplication

    def run_root(self, wdl_name: str, run_id) -> str:
        return str(PurePosixPath(self.root) / wdl_name / str(run_id))

    def workspace(self, call_dir: str, *, finished: bool = False):
        return nullcontext(HostWorkspace(call_dir))

    def check(self, job: JobSpec) -> None:
        pass  # any bash command runs here

    def submit(self, jobs: Sequence[JobSpec]) -> list[Submitted]:
        submitted, scripts = [], []
        for job in jobs:
            execution = Path(job.call_dir) / "execution"
            execution.mkdir(parents=True, exist_ok=True)
            script = wrapper_script(execution_dir=str(execution), command=job.command)
            (execution / "script").write_text(script)
            key = self._store_script(job.script_prefix, script)
            if not (execution / "launch").exists():
                scripts.append(str(execution / "script"))
            submitted.append(Submitted(handle=str(execution), script_bucket="", script_key=key,
                                       script_size=len(script.encode())))
        for start in range(0, len(scripts), LAUNCH_BATCH):
            # One detached bash starts a batch; setsid --fork gives each job a session of its own
            # and init as its parent, so it outlives this worker and is never left a zombie here.
            subprocess.run(
                ["setsid", "--fork", "bash", "-c", 'for s; do setsid --fork bash "$s"; done', "launch",
                 *scripts[start:start + LAUNCH_BATCH]],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=True, check=True,
            )
        return submitted

    def _store_script(self, prefix: str, script: str) -> str:
        """Keep the script under the run's prefix in Batchsite's storage, as S3 would hold it."""
        key = prefix + hashlib.md5(script.encode()).hexdigest()
        if not default_storage.exists(key):
            default_storage.save(key, ContentFile(script.encode()))
        return key

    def script_sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """Return {key: size} of every file under the prefix in Batchsite's storage (bucket must be "")."""
        if bucket:
            raise ValueError(f"the {self.name} backend keeps its scripts in Batchsite's storage, not s3://{bucket}")
        sizes, folders = {}, [prefix.rstrip("/")]
        while folders:
            folder = folders.pop()
            try:
                dirs, files = default_storage.listdir(folder)
            except FileNotFoundError:
                continue
            folders += [f"{folder}/{d}" for d in dirs]
            for name in files:
                key = f"{folder}/{name}"
                if key.startswith(prefix):
                    sizes[key] = default_storage.size(key)
        return sizes

    def delete_scripts(self, bucket: str, sizes: dict[str, int]) -> tuple[list[str], int, list[str]]:
        """Delete the files ({key: size}) from Batchsite's storage; return (deleted, bytes, errors)."""
        if bucket:
            raise ValueError(f"the {self.name} backend keeps its scripts in Batchsite's storage, not s3://{bucket}")
        deleted, errors = [], []
        for key in sorted(sizes):
            try:
                default_storage.delete(key)
            except OSError as exc:
                errors.append(f"{key}: {exc}")
            else:
                deleted.append(key)
        return deleted, sum(sizes[k] for k in deleted), errors

    def active_jobs(self) -> dict[str, dict]:
        return {}  # local jobs carry no tags, and die with nothing to reconcile

    def deregister_unused(self, older_than_days: int) -> list[str]:
        return []  # nothing is registered for local jobs

    def tree_usage(self, root: str) -> tuple[int, int]:
        files = size = 0
        run_dir = self._own_dir(root)
        for folder, dirs, names in os.walk(run_dir) if run_dir else ():  # links are files here, never followed
            for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
                try:
                    size += os.lstat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    continue
                files += 1
        return files, size

    def tree_delete(self, root: str) -> None:
        run_dir = self._own_dir(root)
        if run_dir is not None and run_dir.is_dir():
            shutil.rmtree(run_dir)

    def _own_dir(self, root: str) -> Path | None:
        """Return root if it lies under this backend's root and is no link: nothing else is ever touched."""
        run_dir = Path(root)
        own = not run_dir.is_symlink() and run_dir.resolve().is_relative_to(Path(self.root).resolve())
        return run_dir if own else None

    def find(self, jobs: Sequence[JobSpec]) -> dict[str, str]:
        found = {}
        for job in jobs:
            execution = Path(job.call_dir) / "execution"
            if (execution / "launch").exists():
                found[job.name] = str(execution)
        return found

    def poll(self, handles: Sequence[str]) -> dict[str, JobState]:
        return {handle: self._state(Path(handle)) for handle in handles}

    def _state(self, execution: Path) -> JobState:
        rc = _read_int(execution / "rc")
        if rc is not None:
            return JobState(JobState.DONE, rc=rc)
        pid = _read_int(execution / "launch")
        if pid is not None and _alive(pid, str(execution / "script")):
            return JobState(JobState.RUNNING)
        rc = _read_int(execution / "rc")  # it may have ended between the two looks
        if rc is not None:
            return JobState(JobState.DONE, rc=rc)
        if pid is not None:
            return JobState(JobState.DONE, reason="the job's process ended without writing rc (killed?)")
        try:
            submitted = (execution / "script").stat().st_mtime
        except FileNotFoundError:
            return JobState(JobState.DONE, reason="the job was never submitted")
        if time.time() - submitted < START_GRACE_SECONDS:
            return JobState(JobState.QUEUED)
        return JobState(JobState.DONE, reason=f"the job did not start within {START_GRACE_SECONDS} s")

    def terminate(self, handles: Sequence[str]) -> None:
        groups = []
        for handle in handles:
            execution = Path(handle)
            pid = _read_int(execution / "launch")
            if pid is not None and _alive(pid, str(execution / "script")):
                groups.append(pid)
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for pid in groups:
                try:
                    os.killpg(pid, signum)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while signum == signal.SIGTERM and time.monotonic() < deadline:
                if not any(_group_alive(pid) for pid in groups):
                    return
                time.sleep(0.05)

    def read_log(self, handle: str, call_dir: str, stream: str, offset: int = 0) -> tuple[str, int]:
        path = Path(call_dir) / "execution" / stream
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(LOG_CHUNK)
        except FileNotFoundError:
            return "", offset
        return data.decode("utf-8", errors="replace"), offset + len(data)

    def read_text(self, path: str) -> str:
        return Path(path).read_text()

    # ---- call caching ------------------------------------------------------------------------

    def file_hashes(self, paths: Sequence[str]) -> dict[str, str | None]:
        return {path: content_hash(path) for path in paths}

    def image_digests(self, images: Sequence[str]) -> dict[str, str | None]:
        return {image: image for image in images}  # no container engine: the name is all there is

    def duplicate(self, paths: Sequence[str], *, from_dir: str, into_dir: str) -> dict[str, str]:
        moved = {}
        detritus = [f"{from_dir}/execution/{name}" for name in ("stdout", "stderr", "rc")]
        for path in [*detritus, *paths]:
            if not os.path.lexists(path):
                raise FileNotFoundError(f"{path} is gone")
            if not path.startswith(from_dir.rstrip("/") + "/"):
                moved[path] = path  # an input passed through: it stays where it is
                continue
            target = into_dir.rstrip("/") + path[len(from_dir.rstrip("/")):]
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                self._duplicate_one(path, target)
            moved[path] = target
        return moved

    def _duplicate_one(self, path: str, target: str) -> None:
        """Try the provider's strategies in order (a hard link fails across filesystems)."""
        failure: OSError | None = None
        for strategy in self.duplication:
            try:
                if strategy == "hard-link" and not os.path.isdir(path):
                    os.link(path, target)
                elif strategy == "soft-link":
                    os.symlink(os.path.realpath(path), target)
                elif strategy == "copy":
                    (shutil.copytree if os.path.isdir(path) else shutil.copy2)(path, target)
                else:
                    continue
                return
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"no duplication strategy could bring {path} to {target}")

    def localize(self, uri: str, *, into: str) -> str:
        raise OSError(f"cannot read {uri}: the local backend reads only files on this host")

    def publish(self, path: str, *, under: str) -> str:
        return path  # its jobs run on this host


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group of zombies only is gone for our purposes.
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
