"""The embedded backend: each call is a detached bash process in its call directory.

The process runs in its own session (reparented to init), so a worker that dies or
restarts loses nothing: the next poll finds the `rc` file the script writes when it ends.
The task's command runs inside a bubblewrap sandbox (sandbox.py) unless the provider is a
trusted single-user setup without bubblewrap. A job's handle is its execution directory.
No container engine: `docker` is ignored.
"""
import hashlib
import os
import shutil
import signal
import time
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Mapping, Sequence

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from batchsite.config import SandboxConfig
from workflows.backends import sandbox, starting
from workflows.backends.base import HostWorkspace, JobSpec, JobState, Resources, Submitted, path_within
from workflows.backends.hashing import content_hash

# A submitted job whose process has not started after this long never will.
START_GRACE_SECONDS = 30
LOG_CHUNK = 256 * 1024


def _alive(pid: int, script: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and script.encode() in cmdline


def _read_int(path: Path) -> int | None:
    try:
        fd = sandbox.open_in_call(path.parent, path.name)
    except OSError:  # not there yet (or not a file of ours: never followed)
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            return int(f.read(64).strip())
        except ValueError:  # empty: the sandbox's placeholder until the script writes it
            return None


class LocalBackend:
    """Run call commands as detached local processes under the provider's root."""

    collect_threads = 1
    # A dispatch evaluates its calls one by one before any starts: in batches of 32 both workers
    # evaluate at once and the first calls start sooner, for a sandbox started per 32 calls.
    dispatch_batch = 32
    log_streams = ("stdout", "stderr")

    def __init__(self, name: str, root: str, box: SandboxConfig = SandboxConfig(), *, poll_seconds: float = 0.1,
                 duplication: tuple[str, ...] = ("hard-link", "soft-link", "copy")):
        self.name = name
        self.root = root
        self.box = box
        self.poll_seconds = poll_seconds
        self.duplication = duplication
        self._bwrap: str | None = None  # bubblewrap's path, once a sandbox was seen to start
        self._unsandboxed = False  # a trusted single-user setup found no working bubblewrap

    def run_root(self, wdl_name: str, run_id) -> str:
        return str(PurePosixPath(self.root) / wdl_name / str(run_id))

    def workspace(self, call_dir: str, *, finished: bool = False):
        return nullcontext(HostWorkspace(call_dir))

    def check(self, job: JobSpec) -> None:
        """Refuse a job when no sandbox can run it, or when an input is one of Batchsite's own files."""
        if self._sandbox() is None:
            return  # a trusted single-user setup: the command sees everything anyway
        var, root = os.path.realpath(settings.VAR_DIR), os.path.realpath(self.root)
        for staged in job.files:
            path = os.path.realpath(staged.uri)
            if path_within(path, var) and not path_within(path, root):
                # The database file, uploads, the queue: declared as a File input, it would be bound in.
                raise ValueError(f"input {staged.uri} is one of Batchsite's own files (under {settings.VAR_DIR}); "
                                 "a call may read only its inputs and the calls' directories")

    def _sandbox(self) -> str | None:
        """Return bubblewrap's path; None for a trusted single-user setup without it; else raise ValueError."""
        if self._bwrap is None and not self._unsandboxed:
            try:
                self._bwrap = sandbox.probe(self.box)
            except sandbox.SandboxUnavailable as exc:
                if self.box.trusted_single_user:
                    self._unsandboxed = True
                    return None
                raise ValueError(
                    f"{exc}. Calls of the {self.name} backend run only sandboxed: install bubblewrap "
                    f"(Debian package bubblewrap), or, on a trusted single-user setup, set "
                    f"backend.providers.{self.name}.config.sandbox.trusted-single-user = true"
                ) from None
        return self._bwrap

    def check_runtime(self, runtime: Mapping) -> None:
        pass  # like Cromwell's local backend, it ignores the attributes it has no use for

    def submit(self, jobs: Sequence[JobSpec]) -> list[Submitted]:
        submitted, alone, together = [], [], defaultdict(list)
        bwrap = self._sandbox() if jobs else None
        launcher = sandbox.launcher_binary() if bwrap is not None else None
        for job in jobs:
            execution = Path(job.call_dir) / "execution"
            execution.mkdir(parents=True, exist_ok=True)
            memory = job.runtime.get("memory")
            inputs = [f.uri for f in job.files if f.uri and "://" not in f.uri]
            run_dir = self._run_dir(job.call_dir)
            shared = (bwrap is not None and launcher is not None and run_dir is not None
                      and sandbox.launchable(str(execution), inputs, self.box))
            if bwrap is not None:
                starting.sandbox_prepare(execution, inputs, root=self.root)
            if shared:
                script = starting.wrapper_script(execution_dir=str(execution), command=job.command, launcher=True)
            else:
                options, inner = [], []
                if bwrap is not None:
                    options, inner = sandbox.bwrap_args(box=self.box, execution=str(execution), inputs=inputs,
                                                        script=str(execution / "script"))
                script = starting.wrapper_script(execution_dir=str(execution), command=job.command, bwrap=bwrap,
                                        options=options, inner=inner, memory=memory)
            (execution / "script").write_text(script)
            key = self._store_script(job.script_prefix, script)
            if not (execution / "launch").exists():
                # An rc left from before (a cache hit's files duplicated here, then found incomplete)
                # would read as this attempt's end before it started.
                (execution / "rc").unlink(missing_ok=True)
                if shared:
                    together[run_dir].append((str(execution), inputs, memory if isinstance(memory, int) else None))
                else:
                    alone.append(str(execution / "script"))
            resources = Resources(vcpus=int(job.runtime.get("cpu") or 1),
                                  memory_mib=int(memory) // 2**20 if isinstance(memory, (int, float)) else 0)
            submitted.append(Submitted(handle=str(execution), script_bucket="", script_key=key,
                                       script_size=len(script.encode()), resources=resources))
        starting.start_alone(alone)
        for run_dir, batch in together.items():
            starting.start_together(bwrap, launcher, self.box, run_dir, batch)
        return submitted

    def _run_dir(self, call_dir: str) -> str | None:
        """Return <root>/<workflow>/<run id> of a call directory; None if it is not under the root."""
        relative = os.path.relpath(os.path.abspath(call_dir), os.path.abspath(self.root))
        parts = Path(relative).parts
        return None if relative.startswith("..") or len(parts) < 3 else os.path.join(self.root, *parts[:2])

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
            return JobState(JobState.DONE, rc=rc, **_wall_time(execution))
        pid = _read_int(execution / "launch")
        if pid is not None and _alive(pid, str(execution / "script")):
            return JobState(JobState.RUNNING)
        rc = _read_int(execution / "rc")  # it may have ended between the two looks
        if rc is not None:
            return JobState(JobState.DONE, rc=rc, **_wall_time(execution))
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
        try:
            fd = sandbox.open_in_call(Path(call_dir) / "execution", stream)
        except OSError:  # not written yet, or the command made it a link: nothing to show
            return "", offset
        with os.fdopen(fd, "rb") as f:
            f.seek(offset)
            data = f.read(LOG_CHUNK)
        return data.decode("utf-8", errors="replace"), offset + len(data)

    def read_text(self, path: str) -> str:
        """Return a file a job wrote under the root, following no link on the way (raise OSError)."""
        with os.fdopen(self._open_under_root(path), "rb") as f:
            return f.read().decode()

    def output_open(self, path: str, *, under: str, length: int | None = None) -> tuple[BinaryIO, int]:
        if not path_within(os.path.abspath(path), os.path.abspath(under)) or not path_within(
                os.path.abspath(under), os.path.abspath(self.root)):
            raise OSError(f"{path} is not in the run's directory {under}")
        f = os.fdopen(self._open_under_root(path), "rb")
        return f, os.fstat(f.fileno()).st_size

    def output_url(self, path: str, *, under: str, filename: str) -> str | None:
        self.output_open(path, under=under)[0].close()  # gone or refused: say so now
        return None  # the web process streams it: nothing else can read this host's files

    def _open_under_root(self, path: str) -> int:
        """Open a file under the root read-only, with no link followed on the way; raise OSError
        (FileNotFoundError when it, or a directory on the way, does not exist)."""
        relative = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        if relative.startswith(".."):
            raise OSError(f"{path} is not under the {self.name} backend's root {self.root}")
        *folders, name = Path(relative).parts
        directory = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for folder in folders:  # one at a time, so that no directory on the way can be a link
                try:
                    inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
                except FileNotFoundError:
                    raise FileNotFoundError(f"{path}: {folder} does not exist") from None
                except OSError as exc:
                    raise OSError(f"{path}: {folder} is not a directory of the call (a link?): {exc.strerror}") from None
                os.close(directory)
                directory = inner
            return sandbox.open_file_at(directory, name, shown=path)
        finally:
            os.close(directory)

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


def _wall_time(execution: Path) -> dict:
    """Return when the job started (its launch file) and stopped (its rc file), as JobState takes them."""
    try:
        started, stopped = (execution / "launch").stat().st_mtime, (execution / "rc").stat().st_mtime
    except FileNotFoundError:
        return {}
    return {"started_at": datetime.fromtimestamp(started, tz=timezone.utc),
            "stopped_at": datetime.fromtimestamp(max(started, stopped), tz=timezone.utc)}
