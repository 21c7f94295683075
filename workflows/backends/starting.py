"""Starting the local backend's calls: the job script, and the detached processes that run it.

A call runs `script`: started alone (a bash per call, in a bubblewrap sandbox of its own when there is
one), or with its run's other calls under one sandbox whose launcher (launcher.c) gives each call
its own namespaces. Every start is detached (setsid --fork): a worker that dies or restarts loses nothing.
"""
import os
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Sequence

from batchsite.config import SandboxConfig
from workflows.backends import sandbox

LAUNCH_BATCH = 1000  # scripts per command line, well under the kernel's argument limit


def wrapper_script(*, execution_dir: str, command: str, bwrap: str | None = None, options: Sequence[str] = (),
                   inner: Sequence[str] = (), memory: int | None = None, launcher: bool = False) -> str:
    """Return the bash script that starts a call, records its rc, and (as `script task`) runs its command.

    bwrap: the bubblewrap binary, with its options and the command it runs (sandbox.bwrap_args);
    None to run unsandboxed. launcher: the call starts under its run's launcher (launcher.c), which
    does what the first part would: that part then refuses to start it.
    """
    if launcher:
        return ("#!/bin/bash\n"
                "# Batchsite: this call is started by its run's sandbox launcher; the task's command, below, runs as "
                "`script task`.\n"
                'if [ "${1-}" != task ]; then echo "started by the sandbox launcher only" >&2; exit 2; fi\n'
                "shift\n"
                f"{command}\n")
    script = f"{execution_dir}/script"
    if bwrap is None:
        start = f"/bin/bash {shlex.quote(script)} task"
    else:
        # Arguments go through a pipe (--args): a call with thousands of inputs would pass the
        # kernel's limit on a command line. The passwd and group the sandbox shows come the same way.
        start = (
            # An empty rc, bound read-only into the sandbox, so the command cannot end its call early.
            ": > rc || exit 1\n"
            "sandbox=(\n" + "".join(f"  {shlex.quote(arg)}\n" for arg in options) + ")\n"
            # The runtime's memory bounds the command's data (heap and anonymous maps), where allowed.
            + (f"ulimit -d {max(memory // 1024, 1)} 2>/dev/null || true\n" if memory else "")
            + f"{shlex.quote(bwrap)} --args {sandbox.ARGS_FD} -- {shlex.join(inner)}"
            f" {sandbox.ARGS_FD}< <(printf '%s\\0' \"${{sandbox[@]}}\")"
            f" {sandbox.PASSWD_FD}<<< {shlex.quote(sandbox.PASSWD)} {sandbox.GROUP_FD}<<< {shlex.quote(sandbox.GROUP)}"
        )
    return (
        "#!/bin/bash\n"
        "# Batchsite: this part starts the call and records its rc; the task's command, below, runs as `script task`.\n"
        'if [ "${1-}" != task ]; then\n'
        f"cd {shlex.quote(execution_dir)} || exit 1\n"
        "# Exactly once: a second start of this attempt (a repeated submit) finds launch and leaves.\n"
        "(set -o noclobber; echo $$ > launch) 2>/dev/null || exit 0\n"
        f"{start} > stdout 2> stderr < /dev/null\n"
        "rc=$?\n"
        "# The command could have left a link named rc.tmp: never write through one.\n"
        "rm -rf rc.tmp && (set -o noclobber; echo $rc > rc.tmp) && mv -fT rc.tmp rc\n"
        "exit 0\n"
        "fi\n"
        "shift\n"
        f"{command}\n"
    )


def start_alone(scripts: Sequence[str]) -> None:
    """Start each script in a detached bash of its own."""
    for start in range(0, len(scripts), LAUNCH_BATCH):
        # One detached bash starts a batch; setsid --fork gives each job a session of its own
        # and init as its parent, so it outlives this worker and is never left a zombie here.
        subprocess.run(
            ["setsid", "--fork", "bash", "-c", 'for s; do setsid --fork bash "$s"; done', "launch",
             *scripts[start:start + LAUNCH_BATCH]],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=True, check=True,
        )


def start_together(bwrap: str, launcher: str, box: SandboxConfig, run_dir: str, batch: list) -> None:
    """Start calls of one run ((execution, inputs, memory) each) in detached sandboxes, LAUNCH_BATCH to a
    sandbox, whose launcher gives each call its own view."""
    for start in range(0, len(batch), LAUNCH_BATCH):
        _start_together(bwrap, launcher, box, run_dir, batch[start:start + LAUNCH_BATCH])


def _start_together(bwrap: str, launcher: str, box: SandboxConfig, run_dir: str, batch: list) -> None:
    fds = {name: os.memfd_create(name) for name in ("args", "passwd", "group", "jobs")}
    try:
        options, command, jobs = sandbox.launcher_args(box=box, jobs=batch, launcher=launcher, fds=fds)
        for name, data in (("args", b"".join(arg.encode() + b"\0" for arg in options)),
                           ("passwd", sandbox.PASSWD.encode()), ("group", sandbox.GROUP.encode()),
                           ("jobs", jobs)):
            with open(fds[name], "wb", closefd=False) as f:
                f.write(data)
            os.lseek(fds[name], 0, os.SEEK_SET)
        # The scripts on the launcher's command line are how poll() knows each call's keeper (local._alive).
        with open(os.path.join(run_dir, "launcher.log"), "ab") as log:
            # Started as every batch is (setsid --fork bash -c ...), bash then becoming bwrap.
            subprocess.run(
                ["setsid", "--fork", "bash", "-c", 'exec "$@"', "launch", bwrap, "--args", str(fds["args"]),
                 "--", *command,
                 *(f"{execution}/script" for execution, _, _ in batch)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=tuple(fds.values()), check=True,
            )
    finally:
        for fd in fds.values():
            os.close(fd)


def sandbox_prepare(execution: Path, inputs: Sequence[str], *, root: str) -> None:
    """Give the sandbox's uid the execution directory (the only place it writes) and its inputs to read."""
    (execution / "tmp").mkdir(exist_ok=True)  # the command's HOME and TMPDIR
    if not sandbox.privileged():
        return  # the sandbox's uid is this user's, in a user namespace
    for path in (execution, execution / "tmp"):
        os.chown(path, sandbox.UID, sandbox.GID)
    for path in inputs:
        # write_*() files are made private (mkstemp); those under the root are Batchsite's own.
        if path.startswith(root + "/") and not os.path.islink(path) and os.path.isfile(path):
            mode = os.stat(path).st_mode
            if not mode & stat.S_IROTH:
                os.chmod(path, mode | stat.S_IRGRP | stat.S_IROTH)
