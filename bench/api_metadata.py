"""Benchmark: Cromwell metadata (GET /api/workflows/v1/{id}/metadata) of a run with N calls, in process.

    .venv/bin/python bench/api_metadata.py --calls 100000

Prints, for the full metadata and for includeKey=status, the answer's size, the best wall time and CPU
time of --repeat requests (the body read to its end, as a client would) and how much the process's RSS
grew while answering (sampled as the body streams), then the targets of issue 17 (includeKey=status
under 50 ms; full metadata under 2 s, the process growing under 100 MB) and of issue 19 (which moved
"full metadata of 10,000 calls under 2 s of CPU" out of the tests): met or missed. Last line:
api_metadata calls=N full_s=S full_cpu_s=C full_mb=B full_rss_mb=R status_ms=T status_rss_mb=U queries=Q.
"""
import argparse
import base64
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")
sys.path.insert(0, str(ROOT))
WDL = b"""version 1.0
workflow fan {
  input { Int n }
  scatter (i in range(n)) { call work { input: i = i } }
}
task work {
  input { Int i }
  command <<< echo ~{i} >>>
  output { Int doubled = read_int(stdout()) }
}
"""


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def _fetch(client, url, params, auth) -> tuple[int, int, float, float, float]:
    """Return (status, bytes, wall seconds, CPU seconds, RSS growth in MB) of one request, its body read chunk
    by chunk as a client would; the RSS is sampled as the body streams and once the answer is whole."""
    gc.collect()
    before = highest = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    response = client.get(url, params, **auth)
    size = 0
    if response.streaming:
        for i, chunk in enumerate(response.streaming_content):
            size += len(chunk)
            if i % 16 == 0:
                highest = max(highest, _rss_mb())
    else:
        size = len(response.content)
    highest = max(highest, _rss_mb())
    return response.status_code, size, time.perf_counter() - started, time.process_time() - cpu, highest - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="batchsite_bench_api", help="dropped and created again")
    args = parser.parse_args()

    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.database}")
    os.environ.update(DJANGO_SETTINGS_MODULE="batchsite.settings", BATCHSITE_VAR_DIR=tempfile.mkdtemp(),
                      DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{args.database}", ALLOWED_HOSTS="testserver")
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from teams.services import api_token_create, membership_set, project_create, team_create, user_create
    from workflows.models import Call
    from workflows.services import run_submit, workflow_create

    user = user_create(username="bench", password="bench")
    team = team_create(name="Bench", slug="bench")
    membership_set(team=team, user=user, role="admin")
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="fan", source=WDL, user=user).versions.get()
    run = run_submit(version=version, user=user, inputs={"fan.n": args.calls}, on_hold=True)
    now = timezone.now()
    for start in range(0, args.calls, 10_000):
        Call.objects.bulk_create([
            Call(run=run, team=team, project=project, backend="Local", call_id=f"call-work-{i}", fqn="fan.work",
                 task="work", shard_index=i, status=Call.Status.SUCCEEDED, inputs={"i": i},
                 outputs={"doubled": 2 * i}, runtime={"cpu": 1, "memory": "2 GiB", "docker": "ubuntu:22.04"},
                 command=f"echo {i}", return_code=0, call_dir=f"{run.root}/call-work/shard-{i}/attempt-1",
                 backend_job_id=f"{run.root}/call-work/shard-{i}/attempt-1/execution",
                 claimed=now, started=now, ended=now)
            for i in range(start, min(start + 10_000, args.calls))], batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE workflows_call")
    secret = api_token_create(user=user, name="bench")[1]
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()}
    client = Client()
    url = f"/api/workflows/v1/{run.pk}/metadata"
    figures = {}
    for name, params in (("status", {"includeKey": "status"}), ("full", {"excludeKey": "submittedFiles"})):
        best, best_cpu, size, grew = float("inf"), float("inf"), 0, 0.0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                status, size, wall, cpu, rss = _fetch(client, url, params, auth)
            assert status == 200, status
            best, best_cpu, grew = min(best, wall), min(best_cpu, cpu), max(grew, rss)
            queries = len(captured)
            reset_queries()
        figures[name] = (best, best_cpu, size, grew, queries)
        print(f"{name:6} bytes={size:,} best_s={best:.3f} cpu_s={best_cpu:.3f} rss_growth_mb={grew:.0f} "
              f"queries={queries}")
    full, slim = figures["full"], figures["status"]
    targets = [("includeKey=status under 50 ms", slim[0] < 0.05),
               ("full metadata under 2 s", full[0] < 2.0), ("full metadata grows the process under 100 MB", full[3] < 100)]
    if args.calls <= 10_000:
        targets.append(("full metadata under 2 s of CPU", full[1] < 2.0))
    for target, met in targets:
        print(f"target {target}: {'met' if met else 'MISSED'}")
    print(f"api_metadata calls={args.calls} full_s={full[0]:.3f} full_cpu_s={full[1]:.3f} "
          f"full_mb={full[2] / 1e6:.1f} full_rss_mb={full[3]:.0f} status_ms={slim[0] * 1000:.0f} "
          f"status_rss_mb={slim[3]:.0f} queries={full[4]}")


if __name__ == "__main__":
    main()
