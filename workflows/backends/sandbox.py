"""The bubblewrap sandbox of a local call: what its command sees of this host, and nothing more.

A call runs as an unprivileged uid with a clean environment, read-only system directories, its
execution directory writable, its File inputs read-only, in namespaces of its own (no network
unless the provider allows it). README, "Sandbox", describes it for operators.
"""
import errno
import functools
import hashlib
import logging
import os
import shutil
import stat
import subprocess
from pathlib import Path, PurePosixPath
from typing import Sequence

from batchsite.config import SandboxConfig

logger = logging.getLogger(__name__)

UID = GID = 65534  # nobody
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What bash, coreutils and common tools read under /etc; never passwd/shadow/group of the host.
ETC = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
       "mime.types", "ssl", "ca-certificates", "ca-certificates.conf")
NETWORK_ETC = ("resolv.conf", "hosts", "host.conf", "gai.conf", "services", "protocols")
PASSWD = "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"
GROUP = "root:x:0:\nnogroup:x:65534:"
PASSWD_FD, GROUP_FD, ARGS_FD = 7, 8, 9  # the job script opens these for bwrap


class SandboxUnavailable(Exception):
    """bubblewrap is missing or cannot make a sandbox here; the message says which and why."""


def privileged() -> bool:
    """Tell whether the worker runs as root: bwrap then drops the call to nobody itself (no user namespace)."""
    return os.geteuid() == 0


def bwrap_path(box: SandboxConfig) -> str:
    """Return the bubblewrap binary as an absolute path; raise SandboxUnavailable without one."""
    found = shutil.which(box.bwrap)
    if found is None:
        raise SandboxUnavailable(f"bubblewrap is not installed (no {box.bwrap!r} on PATH)")
    return os.path.abspath(found)


def probe(box: SandboxConfig) -> str:
    """Start an empty sandbox as calls would get; return bwrap's path or raise SandboxUnavailable."""
    bwrap = bwrap_path(box)
    args = _namespaces(box) + _system(box)
    for path in box.read_only_paths:  # a configured path that is not there fails here, not in every call
        args += _mount_point(path) + ["--ro-bind", path, path]
    args += ["--remount-ro", "/", "--clearenv", "--", *_as_nobody(), "/bin/true"]
    try:
        done = subprocess.run([bwrap, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"{bwrap} did not start a sandbox: {exc}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip()[-500:] or f"exit code {done.returncode}"
        raise SandboxUnavailable(f"{bwrap} cannot make a sandbox on this host: {why}")
    return bwrap


def bwrap_args(*, box: SandboxConfig, execution: str, inputs: Sequence[str], script: str) -> tuple[list[str], list[str]]:
    """Return bwrap's options and the command (`bash script task` in execution, inputs bound read-only)."""
    execution = os.path.abspath(execution)
    args = _namespaces(box) + _system(box)
    args += ["--ro-bind-data", str(PASSWD_FD), "/etc/passwd", "--ro-bind-data", str(GROUP_FD), "/etc/group"]
    seen, made = set(), set()
    for path in [*box.read_only_paths, *inputs]:
        path = os.path.abspath(path)
        if path in seen or path == execution or path.startswith(execution + "/"):
            continue  # the call's own files (write_*() made them there) are bound writable below
        seen.add(path)
        args += _mount_point(path, made) + ["--ro-bind", path, path]
    # Bind-mounted files cannot be removed or replaced: the command cannot tamper with its own
    # start (script), the pid the poller checks (launch) or its return code (rc, written after it).
    args += _mount_point(execution, made) + ["--bind", execution, execution]
    for name in ("script", "launch", "rc"):
        args += ["--ro-bind", f"{execution}/{name}", f"{execution}/{name}"]
    args += ["--remount-ro", "/", "--chdir", execution, "--clearenv", "--setenv", "PATH", PATH,
             "--setenv", "HOME", f"{execution}/tmp", "--setenv", "TMPDIR", f"{execution}/tmp"]
    return args, [*_as_nobody(), "/bin/bash", script, "task"]


# Where a path's first folder is one of these, the path is in every sandbox already (or must never
# be covered): a call with such an input starts in a sandbox of its own (bwrap_args).
SHARED_TOPS = {*SYSTEM_DIRS, "/etc", "/proc", "/dev", "/", "/.batchsite-stage"}
LAUNCHER_SOURCE = Path(__file__).with_name("launcher.c")
LAUNCHER_BUILDS = Path(__file__).resolve().parents[2] / "build"  # `make launcher` builds it there
LAUNCHER_FORMAT = "batchsite-launcher-1"  # launcher.c's FORMAT
# Capabilities the launcher keeps (never its calls): namespaces and mounts, writing launch and rc
# in directories nobody owns, becoming nobody.
LAUNCHER_CAPS = ("CAP_SYS_ADMIN", "CAP_DAC_OVERRIDE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")


def launcher_binary() -> str | None:
    """Return the launcher built from launcher.c as it is now (`make launcher`), or None."""
    build = _launcher_build()
    if os.access(build, os.X_OK):
        return build
    if privileged():
        _say_unbuilt(build)
    return None


@functools.cache
def _launcher_build() -> str:
    # Named by the source's hash, read once per process (as the rest of the code is): not at every submit.
    return str(LAUNCHER_BUILDS / f"launcher-{hashlib.sha256(LAUNCHER_SOURCE.read_bytes()).hexdigest()[:12]}")


@functools.cache
def _say_unbuilt(build: str) -> None:
    logger.warning("%s is not built (make launcher): each local call starts in a bubblewrap sandbox of its own, "
                   "several times slower than under its run's launcher", build)


def launchable(execution: str, inputs: Sequence[str], box: SandboxConfig) -> bool:
    """Tell whether a call may start under a run's shared launcher (launcher_args) rather than alone."""
    if not privileged():  # the launcher drops from root to nobody; without root, each call has its own bwrap
        return False
    paths = [execution, *box.read_only_paths, *inputs]
    return all(os.path.isabs(p) and _top(os.path.abspath(p)) not in SHARED_TOPS for p in paths)


def launcher_args(*, box: SandboxConfig, jobs: Sequence[tuple[str, Sequence[str], int | None]], launcher: str,
                  fds: dict[str, int]) -> tuple[list[str], list[str], bytes]:
    """Return bwrap's options, the launcher's command and its jobs file for calls of ONE run.

    jobs: (execution directory, File inputs, memory bytes or None) of each call; fds: the open
    files bwrap reads "passwd", "group" and "jobs" (the jobs file) from. The sandbox holds
    the run's network, IPC and cgroup namespaces; the launcher gives each call its own pid, mount,
    IPC and UTS namespaces showing only its own execution directory and inputs.
    """
    stage = "/.batchsite-stage"  # launcher.c's STAGE
    args = [a for a in _namespaces(box) if a != "--unshare-pid"]  # each call gets its own pid namespace
    args = [a for a in args if not a.startswith("CAP_") and a != "--cap-add"]
    for cap in LAUNCHER_CAPS:
        args += ["--cap-add", cap]
    args += _system(box)
    args += ["--ro-bind-data", str(fds["passwd"]), "/etc/passwd", "--ro-bind-data", str(fds["group"]), "/etc/group",
             "--tmpfs", stage, "--ro-bind", launcher, f"{stage}/launcher",
             "--ro-bind-data", str(fds["jobs"]), f"{stage}/jobs"]
    staged: dict[str, str] = {}

    def stage_read_only(path: str) -> str:
        if path not in staged:
            staged[path] = f"{stage}/r{len(staged)}"
        return staged[path]

    read_only = [[stage_read_only(os.path.abspath(p)), os.path.abspath(p)] for p in box.read_only_paths]
    described, tops = [], {"/tmp"}
    for i, (execution, inputs, memory) in enumerate(jobs):
        execution = os.path.abspath(execution)
        args += ["--bind", execution, f"{stage}/e{i}"]
        own = sorted({os.path.abspath(p) for p in inputs} - {p for p, _ in read_only})
        own = [p for p in own if p != execution and not p.startswith(execution + "/")]
        described += [f"{stage}/e{i}", execution, memory or 0, len(own), *_flat((stage_read_only(p), p) for p in own)]
        tops.update(_top(p) for p in [execution, *own])
    tops.update(_top(p) for _, p in read_only)
    for path, at in staged.items():
        args += ["--ro-bind", path, at]
    for top in sorted(tops - {"/tmp"}):
        args += ["--dir", top]
    args += ["--remount-ro", "/", "--clearenv"]
    fields = [LAUNCHER_FORMAT, UID, GID, PATH, len(tops), *sorted(tops), len(read_only), *_flat(read_only),
              len(jobs), *described]
    return args, [f"{stage}/launcher"], b"".join(str(f).encode() + b"\0" for f in fields)


def _flat(pairs) -> list:
    return [item for pair in pairs for item in pair]


def _top(path: str) -> str:
    parts = PurePosixPath(path).parts
    return "/" + parts[1] if len(parts) > 1 else "/"


def _namespaces(box: SandboxConfig) -> list[str]:
    # --die-with-parent ties the sandbox to the job script that started it, a detached process
    # whose parent is init: a worker restart leaves it alone, and an abort that kills the
    # script's process group takes the whole sandbox (every process in its pid namespace) along.
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
            "--hostname", "batchsite"]
    if not box.allow_network:
        args.append("--unshare-net")
    if privileged():
        # bwrap runs as root, so it can reach any path to bind; setpriv then drops the command to
        # nobody for good (and no new privileges: setuid binaries and file capabilities do nothing).
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        args += ["--unshare-user", "--disable-userns", "--uid", str(UID), "--gid", str(GID)]
    return args


def _as_nobody() -> list[str]:
    if not privileged():
        return []
    return ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", "--bounding-set=-all",
            "--inh-caps=-all", "--no-new-privs"]


def _system(box: SandboxConfig) -> list[str]:
    args = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--dir", "/etc"]
    for name in ETC + (NETWORK_ETC if box.allow_network else ()):
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return args


def _mount_point(path: str, made: set[str] | None = None) -> list[str]:
    # bwrap makes the missing parents of a bind mode 0700 (root's): make them 0755 first, or
    # nobody could not reach what is bound there. (Once per folder: a gather has many inputs in one.)
    parent = str(PurePosixPath(path).parent)
    if parent == "/" or (made is not None and parent in made):
        return []
    if made is not None:
        made.add(parent)
    return ["--dir", parent]


def open_in_call(directory: Path | str, name: str) -> int:
    """Open a file a job wrote, read-only, without following a link; raise OSError (FileNotFoundError if none).

    A sandboxed command owns its execution directory: it could leave a link to a host file
    (the database, /etc/shadow) where its stdout or an output should be. Only a regular file
    named directly in the directory is opened.
    """
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        return open_file_at(dir_fd, name, shown=f"{directory}/{name}")
    finally:
        os.close(dir_fd)


def open_file_at(dir_fd: int, name: str, *, shown: str) -> int:
    """Open name in the open directory dir_fd as open_in_call does; shown names it in errors."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{shown} is a link: not followed out of the call directory") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{shown} is not a regular file")
    return fd
