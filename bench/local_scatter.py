"""Benchmark: an N-shard scatter of `echo` through Batchsite, against `miniwdl run` with the bare
backend and N bare `bash -c` processes 2 at a time, on the same machine in one run.

    .venv/bin/python bench/local_scatter.py --shards 1000 [--profile]

What each figure includes, and how many calls run at once:
- batchsite_s: from run_submit() (inputs checked, the run written) until the run reads Succeeded in
  the database, polled every 50 ms. Celery (2 worker processes, as many as cores here) and beat are
  already up, and the WDL was parsed when the workflow was created: a server's view of one run.
  The team cap, 64, bounds the calls submitted or running at once (a Batchsite default for a busy
  team; the sandboxed processes themselves are the only thing it bounds).
- miniwdl_s: the whole `miniwdl run` command with `MINIWDL__SCHEDULER__CONTAINER_BACKEND=bare`,
  its interpreter start and parse included, run twice: with its default `task_concurrency` (one
  call per core) and with the same 64 as Batchsite; the ratio is against the faster of the two
  (on 2 cores its default wins: 64 threads of its own scheduler cost it more than they give).
  miniwdl_startup_s is what start-up and parse alone cost (`miniwdl check` of the same file), so
  miniwdl_s - miniwdl_startup_s is its run with no start-up.
- bash_s: N `bash -c "echo i"` processes, 2 at a time: the floor of starting N processes here.
Both engines' outputs are checked: the array of N strings "0".."N-1".

Last line: local_scatter shards=N batchsite_s=A miniwdl_s=B miniwdl_concurrency=K miniwdl_startup_s=S
bash_s=C ratio=R per_call_ms=P (B the faster miniwdl run, K its calls at once, R = A / B, P = A / N in ms). --profile adds where Batchsite's time per call
goes (see bench/scatter_profile.py).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WDL = """version 1.0
workflow scatter_echo {
  input { Int n }
  scatter (i in range(n)) { call echo { input: i = i } }
  output { Array[String] out = echo.out }
}
task echo {
  input { Int i }
  command <<< echo ~{i} >>>
  output { String out = read_string(stdout()) }
}
"""
CONFIG = """backend {
  default = "Local"
  providers {
    Local {
      actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
      config { root = "cromwell-executions", concurrent-job-limit = 10000 }
    }
  }
}
"""
DATABASE = os.environ.get("BENCH_DATABASE", "batchsite_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


CONCURRENCY = 64  # Batchsite's team cap, and the calls at once of miniwdl's second run
EXPECTED = lambda shards: [str(i) for i in range(shards)]  # noqa: E731


def time_batchsite(shards: int, work: Path, *, profile: bool) -> float:
    from bench.common import django_on_fresh_database
    from tests.workers import beat, running, wait_until, worker

    env = django_on_fresh_database(database=DATABASE, redis_url=REDIS_URL, work=work, config=CONFIG)
    from teams.services import project_create, team_create
    from workflows.models import Run
    from workflows.services import run_submit, workflow_create

    # The team cap is the limit, not the provider's.
    team = team_create(name="Bench", slug="bench", max_running_jobs=CONCURRENCY)
    project = project_create(team=team, name="Bench", slug="bench")
    workflow = workflow_create(project=project, name="Scatter echo", source=WDL.encode())
    version = workflow.versions.get()
    logs = work / "logs"
    logs.mkdir()
    workers = worker(env, logs / "worker.log", concurrency=2)
    if profile:
        (work / "profile").mkdir()
        workers.args = [sys.executable, str(ROOT / "bench" / "profiled_celery.py"), str(work / "profile"),
                        *workers.args[1:]]
    with running(workers, beat(env, logs / "beat.log")):
        time.sleep(3)  # let both come up: the figure is the run, not Celery's start-up
        started = time.monotonic()
        run = run_submit(version=version, user=None, inputs={"scatter_echo.n": shards})
        status = wait_until(lambda: (s := Run.objects.values_list("status", flat=True).get(pk=run.pk))
                            in Run.TERMINAL and s, timeout=float(os.environ.get("BENCH_TIMEOUT", 1800)),
                            interval=0.05, message="the run finishing")
        elapsed = time.monotonic() - started
    run.refresh_from_db()
    if status != "Succeeded" or run.outputs["scatter_echo.out"] != EXPECTED(shards):
        raise SystemExit(f"batchsite run ended {status} with other outputs than expected: {run.failures}")
    return elapsed


def miniwdl(*args: str, work: Path, concurrency: int = 0) -> float:
    """Run the miniwdl command with the bare backend, concurrency calls at once (0: its default, one
    per core); return its wall time."""
    env = dict(os.environ, MINIWDL__SCHEDULER__CONTAINER_BACKEND="bare",
               MINIWDL__SCHEDULER__TASK_CONCURRENCY=str(concurrency))
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("miniwdl")), *args], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def time_miniwdl(shards: int, work: Path) -> tuple[dict[int, float], float]:
    """Return ({calls at once: the whole `miniwdl run`}, its start-up and parse alone), having checked
    its outputs each time; calls at once 0 is its default."""
    (work / "scatter.wdl").write_text(WDL)
    startup = miniwdl("check", "--suppress", "CommandShellCheck", "scatter.wdl", work=work)
    times = {}
    for concurrency in (0, CONCURRENCY):
        times[concurrency] = miniwdl("run", "scatter.wdl", f"n={shards}", "--dir", f"miniwdl-{concurrency}",
                                     "--no-color", "-o", "outputs.json", work=work, concurrency=concurrency)
        outputs = json.loads((work / "outputs.json").read_text())["outputs"]
        if outputs["scatter_echo.out"] != EXPECTED(shards):
            raise SystemExit(f"miniwdl's outputs are not the expected ones: {str(outputs)[:300]}")
        shutil.rmtree(work / f"miniwdl-{concurrency}")
    return times, startup


def time_bash(shards: int) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda i: subprocess.run(["bash", "-c", f"echo {i}"], stdout=subprocess.DEVNULL, check=True),
                      range(shards)))
    return time.monotonic() - started


def main() -> None:
    # `timeout` and `kill` send SIGTERM: stop the Celery processes on the way out, as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="print where Batchsite's time per call goes")
    parser.add_argument("--skip-miniwdl", action="store_true", help="time Batchsite and bash only (no ratio)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker and beat logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-local-scatter-"))
    batchsite_s = time_batchsite(args.shards, work, profile=args.profile)  # on failure the work dir stays
    print(f"batchsite: {batchsite_s:.2f} s ({batchsite_s / args.shards * 1000:.2f} ms a call)", flush=True)
    if args.profile:
        from bench.scatter_profile import report

        print(report(work, shards=args.shards, wall=batchsite_s), flush=True)
    miniwdl_s = startup_s = float("nan")
    concurrency = 0
    if not args.skip_miniwdl:
        times, startup_s = time_miniwdl(args.shards, work)
        for calls, seconds in times.items():
            print(f"miniwdl + bare, {calls or f'its default ({os.cpu_count()})'} calls at once: {seconds:.2f} s, "
                  f"of which start-up and parse {startup_s:.2f} s", flush=True)
        concurrency, miniwdl_s = min(times.items(), key=lambda item: item[1])
        concurrency = concurrency or os.cpu_count()
    bash_s = time_bash(args.shards)
    print(f"bash -c, 2 at a time: {bash_s:.2f} s", flush=True)
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"local_scatter shards={args.shards} batchsite_s={batchsite_s:.2f} miniwdl_s={miniwdl_s:.2f} "
          f"miniwdl_concurrency={concurrency} miniwdl_startup_s={startup_s:.2f} bash_s={bash_s:.2f} ratio={batchsite_s / miniwdl_s:.2f} "
          f"per_call_ms={batchsite_s / args.shards * 1000:.2f}")


if __name__ == "__main__":
    main()
