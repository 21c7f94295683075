"""Benchmark: an N-shard scatter of `echo` through Batchsite (PostgreSQL, Redis, 2 Celery worker
processes, the local backend, team cap 64), against `miniwdl run` with the bare backend and N
bare `bash -c` processes 2 at a time.

    .venv/bin/python bench/local_scatter.py --shards 1000

Last line: local_scatter shards=N batchsite_s=A miniwdl_s=B bash_s=C ratio=R (R = A / B).
"""
import argparse
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
DATABASE = "batchsite_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"


def time_batchsite(shards: int, work: Path) -> float:
    from bench.common import django_on_fresh_database
    from tests.workers import beat, running, wait_until, worker

    # The team cap (64) is the limit, not the provider's.
    env = django_on_fresh_database(database=DATABASE, redis_url=REDIS_URL, work=work, config=CONFIG)
    from teams.services import project_create, team_create
    from workflows.models import Run
    from workflows.services import run_submit, workflow_create

    team = team_create(name="Bench", slug="bench", max_running_jobs=64)
    project = project_create(team=team, name="Bench", slug="bench")
    workflow = workflow_create(project=project, name="Scatter echo", source=WDL.encode())
    version = workflow.versions.get()
    logs = work / "logs"
    logs.mkdir()
    with running(worker(env, logs / "worker.log", concurrency=2), beat(env, logs / "beat.log")):
        time.sleep(3)  # let both come up: the figure is the run, not Celery's start-up
        started = time.monotonic()
        run = run_submit(version=version, user=None, inputs={"scatter_echo.n": shards})
        status = wait_until(lambda: (s := Run.objects.values_list("status", flat=True).get(pk=run.pk))
                            in ("Succeeded", "Failed", "Aborted") and s, timeout=float(os.environ.get('BENCH_TIMEOUT', 600)), interval=0.05,
                            message="the run finishing")
        elapsed = time.monotonic() - started
    run.refresh_from_db()
    if status != "Succeeded" or len(run.outputs["scatter_echo.out"]) != shards:
        raise SystemExit(f"batchsite run ended {status}: {run.failures}")
    return elapsed


def time_miniwdl(shards: int, work: Path) -> float:
    wdl = work / "scatter.wdl"
    wdl.write_text(WDL)
    env = dict(os.environ, MINIWDL__SCHEDULER__CONTAINER_BACKEND="bare")
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).with_name("miniwdl")), "run", str(wdl), f"n={shards}",
                    "--dir", str(work / "miniwdl"), "--no-color"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


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
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker and beat logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-local-scatter-"))
    batchsite_s = time_batchsite(args.shards, work)  # on failure the work dir stays, with the logs
    print(f"batchsite: {batchsite_s:.2f} s", flush=True)
    miniwdl_s = time_miniwdl(args.shards, work)
    print(f"miniwdl + bare: {miniwdl_s:.2f} s", flush=True)
    bash_s = time_bash(args.shards)
    print(f"bash -c, 2 at a time: {bash_s:.2f} s", flush=True)
    if args.keep:
        print(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"local_scatter shards={args.shards} batchsite_s={batchsite_s:.2f} miniwdl_s={miniwdl_s:.2f} "
          f"bash_s={bash_s:.2f} ratio={batchsite_s / miniwdl_s:.2f}")


if __name__ == "__main__":
    main()
