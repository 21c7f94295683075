"""Start the calls of one run that one submit sends, inside one bubblewrap sandbox (sandbox.launcher_args).

Run by the host's system Python inside that sandbox, never imported by Batchsite: the standard
library only. bubblewrap already made the sandbox's namespaces (network, IPC, UTS, cgroup), its
read-only root and /etc, and bound each call's execution directory and inputs under STAGE. For each
call this process forks a keeper, which, like the job script of a call started alone, records its
pid in `launch` (exactly once), starts the call and writes its `rc` when it ends. The call itself is
pid 1 of a pid namespace of its own (every process it leaves ends with it), in a mount namespace of
its own where fresh file systems cover every folder it needs and only its execution directory
(writable, but for script, launch and rc) and its own inputs (read-only) are bound in; STAGE is gone
from it. It runs as nobody, with no capabilities, no new privileges and a clean environment.
"""
import ctypes
import json
import os
import resource
import signal
import sys

STAGE = "/.batchsite-stage"
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x20000, 0x4000000, 0x8000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH = 4096, 16384, 1 << 18, 2
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 1, 24, 38, 47, 4

libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target: str, fstype, flags: int, data=None) -> None:
    encode = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(libc.mount(encode(source), target.encode(), encode(fstype), ctypes.c_ulong(flags), encode(data)),
           f"mount {target}")


def _bind(source: str, target: str, *, read_only: bool) -> None:
    if not os.path.lexists(target):
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        if os.path.isdir(source):
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o444))
    _mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _view(job: dict, spec: dict) -> None:
    """Make this mount namespace show the call its own execution directory and inputs, nothing else."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for top in spec["tops"]:  # fresh, empty file systems over every folder the calls' paths go through
        mode = "1777" if top == "/tmp" else "0755"
        _mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")
    if "/tmp" not in spec["tops"]:
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    execution = job["execution"]
    _bind(job["stage"], execution, read_only=False)
    for name in ("script", "launch", "rc"):  # the command cannot end its call early or forge its pid
        _bind(f"{job['stage']}/{name}", f"{execution}/{name}", read_only=True)
    for stage, path in sorted(spec["read_only"] + job["inputs"], key=lambda pair: pair[1]):
        _bind(stage, path, read_only=True)
    for top in spec["tops"]:
        if top != "/tmp":
            _mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _check(libc.umount2(STAGE.encode(), MNT_DETACH), f"umount {STAGE}")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _command(job: dict, spec: dict) -> None:
    """Become the call's command: nobody, no capabilities, no new privileges, a clean environment."""
    if job["memory"]:
        resource.setrlimit(resource.RLIMIT_DATA, (job["memory"], job["memory"]))
    os.chdir(job["execution"])
    os.closerange(3, 1 << 16)
    os.setgroups([])
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])  # from root to nobody: every capability goes
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    home = f"{job['execution']}/tmp"
    os.execve("/bin/bash", ["/bin/bash", f"{job['execution']}/script", "task"],
              {"PATH": spec["path"], "HOME": home, "TMPDIR": home})


def _init(job: dict, spec: dict) -> None:
    """Be pid 1 of the call's pid namespace: set its view up, run the command, end with it."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # its keeper killed: the call goes too
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _check(libc.sethostname(b"batchsite", 9), "sethostname")
    _view(job, spec)
    command = os.fork()
    if command == 0:
        try:
            _command(job, spec)
        finally:
            os._exit(127)
    while True:  # reap what the command leaves; its own end ends the namespace
        pid, status = os.wait()
        if pid == command:
            os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _keep(job: dict, spec: dict) -> None:
    """Start one call exactly once and write its rc when it ends."""
    os.setsid()  # a process group of its own: an abort kills it and everything under it
    stage = job["stage"]
    try:
        fd = os.open(f"{stage}/launch", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return  # started already (a repeated submit)
    os.write(fd, f"{os.getpid()}\n".encode())
    os.close(fd)
    os.close(os.open(f"{stage}/rc", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644))
    null = os.open("/dev/null", os.O_RDONLY)
    out = os.open(f"{stage}/stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    err = os.open(f"{stage}/stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    for source, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(source, target)
        os.close(source)
    _check(libc.unshare(CLONE_NEWPID), "unshare")
    child = os.fork()
    if child == 0:
        try:
            _init(job, spec)
        except BaseException as exc:  # the sandbox could not be made: say why where the logs are read
            os.write(2, f"batchsite: the call's sandbox could not be made: {exc}\n".encode())
        finally:
            os._exit(127)
    _, status = os.waitpid(child, 0)
    rc = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    # The command owned the directory: it may have left anything named rc.tmp, a link included.
    temporary = f"{stage}/rc.tmp"
    if os.path.isdir(temporary) and not os.path.islink(temporary):
        import shutil

        shutil.rmtree(temporary)
    elif os.path.lexists(temporary):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    os.write(fd, f"{rc}\n".encode())
    os.close(fd)
    os.rename(temporary, f"{stage}/rc")


def main() -> None:
    with open(f"{STAGE}/jobs.json") as f:
        spec = json.load(f)
    for job in spec["jobs"]:
        if os.fork() == 0:
            try:
                _keep(job, spec)
            finally:
                os._exit(0)


if __name__ == "__main__":
    main()
    sys.exit(0)
