"""Where Batchsite's time per call goes in bench/local_scatter.py --profile.

Three views, each per call of the run:
- the workers: every task of both pool processes ran under cProfile (bench/profiled_celery.py);
  their time is split into stages by the functions that do them (engine evaluation, database
  round trips, Celery messages sent, the backend's submit and poll, output collection), with the
  number of tasks of each kind (the Celery hops);
- the calls' own processes, which run outside the workers: timed through the local backend, a
  dispatch's batch at a time, started by a run's launcher and by a bwrap per call, against a bare `bash -c`, with
  the machine's user and system CPU per call (forks and namespaces are system time);
- the calls' timeline, from their rows and files: how long a call waits between the stages.
"""
import os
import pstats
import statistics
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

# (stage, file suffix, function): the cumulative time of each function, summed over the workers.
STAGES = [
    ("engine: step the run (load, feed, save state)", "workflows/services/advance.py", "_step"),
    ("engine: evaluate calls (command, runtime)", "workflows/engine/calls.py", "prepare"),
    ("engine: collect outputs", "workflows/engine/calls.py", "collect"),
    ("database: queries (round trips)", "django/db/backends/utils.py", "_execute"),
    ("celery: messages sent", "kombu/messaging.py", "publish"),
    ("backend: submit (scripts, sandbox set-up, launch)", "workflows/backends/local.py", "submit"),
    ("  of which starting the launcher process", "subprocess.py", "run"),
    ("backend: poll (rc files, /proc)", "workflows/backends/local.py", "poll"),
]


def report(work: Path, *, shards: int, wall: float) -> str:
    """Return the profile of the run the benchmark just timed, as text."""
    lines = [f"profile of {shards} calls, {wall:.2f} s wall ({wall / shards * 1000:.2f} ms a call):"]
    lines += _workers(work / "profile", shards)
    lines += _processes(shards)
    lines += _timeline(shards)
    return "\n".join(lines)


def _workers(folder: Path, shards: int) -> list[str]:
    profiles = sorted(folder.glob("*.prof"))
    if not profiles:
        return ["  (no worker profile was written)"]
    tasks, task_time = Counter(), defaultdict(float)
    for path in folder.glob("*.tasks"):
        for line in path.read_text().splitlines():
            name, seconds = line.rsplit(" ", 1)
            tasks[name] += 1
            task_time[name] += float(seconds)
    total = sum(task_time.values())
    lines = [f"  worker tasks: {total:.2f} s in {sum(tasks.values())} tasks "
             f"({total / shards * 1000:.2f} ms a call; 2 processes)"]
    for name, count in tasks.most_common():
        lines.append(f"    {name:<28} {count:>6} runs {task_time[name]:>8.2f} s "
                     f"{task_time[name] / shards * 1000:>7.2f} ms a call")
    stats = pstats.Stats(*map(str, profiles)).stats
    lines.append("  stages inside the tasks (cumulative, ms a call; calls of the function):")
    for stage, suffix, function in STAGES:
        calls = seconds = 0
        for (filename, line, name), (_, ncalls, _, cumulative, callers) in stats.items():
            if name == function and filename.endswith(suffix):
                if suffix == "subprocess.py":  # only the launches of the local backend
                    ncalls, cumulative = _from_callers(callers, "workflows/backends/starting.py")
                calls, seconds = calls + ncalls, seconds + cumulative
        lines.append(f"    {stage:<52} {seconds / shards * 1000:>7.2f} ms {calls / shards:>7.2f} a call")
    return lines


def _from_callers(callers: dict, suffix: str) -> tuple[int, float]:
    """Return (calls, cumulative seconds) of a function counting only its callers in files ending with suffix."""
    picked = [timing for caller, timing in callers.items() if caller[0].endswith(suffix)]
    return sum(t[1] for t in picked), sum(t[3] for t in picked)


def _processes(shards: int, samples: int = 128) -> list[str]:
    """Time a call's own processes: submitted through the local backend a dispatch's batch at a time
    (dispatch_batch) until every rc is written, with a run's launcher and with a bwrap per call; then bare bash."""
    from workflows.backends import JobSpec, backend_for, sandbox

    backend = backend_for("Local")
    batch = backend.dispatch_batch
    lines = [f"  a call's processes, {samples} calls submitted {batch} at a time until every rc is written:"]
    launcher_binary = sandbox.launcher_binary
    for how, launcher in (("one launcher per run and batch", launcher_binary), ("one bwrap per call", lambda: None)):
        sandbox.launcher_binary = launcher  # the benchmark's switch between the two ways a call starts
        try:
            with tempfile.TemporaryDirectory(dir=backend.root) as folder:
                started, cpu = time.monotonic(), _cpu()
                for first in range(0, samples, batch):
                    rcs, jobs = [], []
                    for i in range(first, min(samples, first + batch)):
                        call_dir = Path(folder) / "wf" / "run" / f"call-probe/shard-{i}/attempt-1"
                        jobs.append(JobSpec(name=f"probe-{i}", call_dir=str(call_dir), command=f"echo {i}"))
                        rcs.append(call_dir / "execution" / "rc")
                    backend.submit(jobs)
                    for rc in rcs:
                        while not rc.exists() or not rc.read_text().strip():
                            time.sleep(0.0005)
                each = (time.monotonic() - started) / samples
                user, system = ((after - before) / samples for after, before in zip(_cpu(), cpu))
        finally:
            sandbox.launcher_binary = launcher_binary
        lines.append(f"    {how:<52} {each * 1000:>7.2f} ms a call ({each * shards:.2f} s for {shards} calls; "
                     f"CPU: user {user * 1000:.2f} ms, system {system * 1000:.2f} ms a call)")
    started = time.monotonic()
    for i in range(samples):
        subprocess.run(["bash", "-c", f"echo {i}"], stdout=subprocess.DEVNULL, check=True)
    lines.append(f"    {'bare bash -c, one at a time':<52} {(time.monotonic() - started) / samples * 1000:>7.2f} ms a call")
    return lines


def _cpu() -> tuple[float, float]:
    """Return the whole machine's (user, system) CPU seconds so far: the calls' processes are no children of ours."""
    with open("/proc/stat") as f:
        user, nice, system = (int(v) for v in f.readline().split()[1:4])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice) / tick, system / tick


def _timeline(shards: int) -> list[str]:
    """Median waits between a call's stages, from its row and its files."""
    from workflows.models import Call

    gaps = defaultdict(list)
    for call in Call.objects.filter(status=Call.Status.SUCCEEDED).only("call_dir", "queued", "claimed", "ended"):
        execution = Path(call.call_dir) / "execution"
        try:
            script, launch, rc = ((execution / name).stat().st_mtime for name in ("script", "launch", "rc"))
        except FileNotFoundError:
            continue
        claimed, ended = call.claimed.timestamp(), call.ended.timestamp()
        gaps["claimed -> script written (evaluation, submit)"].append(script - claimed)
        gaps["script written -> process started (launch)"].append(launch - script)
        gaps["process started -> rc written (sandbox, command)"].append(rc - launch)
        gaps["rc written -> recorded (poll, collect)"].append(ended - rc)
    lines = ["  a call's timeline (median, ms; the waits overlap across calls):"]
    for gap, values in gaps.items():
        lines.append(f"    {gap:<52} {statistics.median(values) * 1000:>8.1f}")
    return lines
