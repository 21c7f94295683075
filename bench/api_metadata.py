"""Benchmark: Cromwell metadata (GET /api/workflows/v1/{id}/metadata) of a run with N calls, in process.

    .venv/bin/python bench/api_metadata.py --calls 10000

Last line: api_metadata calls=N best_s=S queries=Q bytes=B (best of --repeat requests).
"""
import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "batchsite_bench_api"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    os.environ.update(DJANGO_SETTINGS_MODULE="batchsite.settings", BATCHSITE_VAR_DIR=tempfile.mkdtemp(),
                      DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}", ALLOWED_HOSTS="testserver")
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from django.db import connection
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
    Call.objects.bulk_create([
        Call(run=run, team=team, project=project, backend="Local", call_id=f"call-work-{i}", fqn="fan.work",
             task="work", shard_index=i, status=Call.Status.SUCCEEDED, inputs={"i": i}, outputs={"doubled": 2 * i},
             runtime={"cpu": 1, "memory": "2 GiB", "docker": "ubuntu:22.04"}, command=f"echo {i}", return_code=0,
             call_dir=f"{run.root}/call-work/shard-{i}/attempt-1",
             backend_job_id=f"{run.root}/call-work/shard-{i}/attempt-1/execution",
             claimed=now, started=now, ended=now)
        for i in range(args.calls)], batch_size=2000)
    secret = api_token_create(user=user, name="bench")[1]
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()}
    client = Client()
    best, queries, size = float("inf"), 0, 0
    for _ in range(args.repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(f"/api/workflows/v1/{run.pk}/metadata", {"excludeKey": "submittedFiles"}, **auth)
            best = min(best, time.perf_counter() - started)
        assert response.status_code == 200, response.content[:500]
        queries, size = len(captured), len(response.content)
    print(f"api_metadata calls={args.calls} best_s={best:.3f} queries={queries} bytes={size}")


if __name__ == "__main__":
    main()
