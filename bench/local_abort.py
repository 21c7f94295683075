"""Benchmark: how long an abort takes to stop a local run's processes (moved here from a test's wall clock).

    .venv/bin/python bench/local_abort.py [--jobs 3]

A run of 8 `sleep 600` calls under a team cap of 3 is driven in this process (as run_wdl does) until
3 run; then it is aborted. Last line: local_abort jobs=3 aborted_s=A killed_s=K (A: until the run
reads Aborted; K: until no job process is left). Target K <= 10.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WDL = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) { call t { input: i = i } }
}
task t {
  input { Int i }
  command <<< sleep 600; echo ~{i} >>>
}
"""
CONFIG = """backend {
  default = "Local"
  providers.Local {
    actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
    config { root = "cromwell-executions" }
  }
}
"""
DATABASE = os.environ.get("BENCH_DATABASE", "batchsite_bench") + "_abort"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=3, help="the team cap: how many run when the abort comes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-local-abort-"))
    from bench.common import django_on_fresh_database

    django_on_fresh_database(database=DATABASE, redis_url=REDIS_URL, work=work, config=CONFIG)
    from teams.services import project_create, team_create
    from tests.runs import Eager, drive
    from workflows.models import Call
    from workflows.services import run_abort, run_submit, workflow_create

    team = team_create(name="Bench", slug="bench", max_running_jobs=args.jobs)
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="Sleepers", source=WDL.encode()).versions.get()
    with Eager():
        run = run_submit(version=version, user=None, inputs={"wf.n": args.jobs + 5})
        running = lambda r: Call.objects.filter(run=r, status=Call.Status.RUNNING).count() == args.jobs  # noqa: E731
        run = drive(run, until=running, timeout=120)
        pids = [int((Path(c.call_dir) / "execution" / "launch").read_text())
                for c in Call.objects.filter(run=run, status=Call.Status.RUNNING)]
        started = time.monotonic()
        run_abort(run=run, user=None)
        run = drive(run, timeout=120)
        aborted = time.monotonic() - started
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() - started > 120:
            raise SystemExit(f"job processes still alive 120 s after the abort: {pids}")
        time.sleep(0.01)
    killed = time.monotonic() - started
    shutil.rmtree(work, ignore_errors=True)
    if run.status != "Aborted":
        raise SystemExit(f"the run ended {run.status}, not Aborted")
    print(f"local_abort jobs={args.jobs} aborted_s={aborted:.2f} killed_s={killed:.2f}")


if __name__ == "__main__":
    main()
