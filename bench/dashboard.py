"""Benchmark: the run list, run page and its live refresh with a 100,000-call run, in process, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mydb .venv/bin/python bench/dashboard.py --calls 100000

It drops and creates the database `<DATABASE_URL's name>_bench_dashboard` (default batchsite_bench_dashboard),
bulk-inserts the calls, and times each page --repeat times with Django's test client, logged in as a team
member (a scientist), counting queries and the time spent in SQL and on this process's CPU (on a loaded
machine the wall clock mostly measures other work). A 100-call run is measured the same way; its query
counts must be the large run's. Then it finishes --burst calls one statement each, as polling does, and
measures the live refresh before the tally rows they added are merged. Last line:
dashboard calls=N list_p95_ms=A detail_p95_ms=B live_p95_ms=C max_queries=Q
"""
import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WDL = b"""version 1.0
workflow fan {
  input { Int n }
  call prepare
  scatter (i in range(n)) { call work { input: i = i } }
  call gather { input: xs = work.doubled }
}
task prepare { command <<< true >>> }
task work {
  input { Int i }
  command <<< echo ~{i} >>>
  output { Int doubled = read_int(stdout()) }
}
task gather {
  input { Array[Int] xs }
  command <<< true >>>
}
"""
OTHER_RUNS = 300  # finished runs of 20 calls each, so the list pages through a realistic history
OTHER_CALLS = 20


def fresh_database(url: str) -> str:
    """Drop and create the benchmark's database on DATABASE_URL's server; return its URL."""
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.strip("/") or "batchsite") + "_bench_dashboard"
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return parts._replace(path=f"/{name}").geturl()


def calls_for(run, *, n: int, now: dt.datetime, active: bool):
    """Yield the calls of a run of n shards: mostly succeeded, some retried and failed; running ones if active."""
    from workflows.models import Call

    start = run.submitted
    spread = max((now - start).total_seconds(), 1.0)

    def call(call_id, fqn, shard, attempt, status, at):
        queued = start + dt.timedelta(seconds=spread * at)
        begun = queued + dt.timedelta(seconds=2) if status not in (Call.Status.QUEUED, Call.Status.SUBMITTED) else None
        ended = begun + dt.timedelta(seconds=30) if begun and status not in Call.ACTIVE else None
        return Call(run=run, team=run.team, project=run.project, backend="Local", call_id=call_id, fqn=fqn,
                    task=fqn.split(".")[-1], shard_index=shard, attempt=attempt, status=status,
                    inputs={"i": shard}, outputs={"doubled": 2 * shard} if status == Call.Status.SUCCEEDED else None,
                    runtime={"cpu": 1, "memory": "2 GiB"}, command=f"echo {shard}",
                    return_code=0 if status == Call.Status.SUCCEEDED else 1 if ended else None,
                    call_dir=f"{run.root}/call-{fqn}/shard-{shard}/attempt-{attempt}",
                    backend_job_id=f"{run.root}/call-{fqn}/shard-{shard}/attempt-{attempt}/execution" if begun else "",
                    failure="exit 1" if status in (Call.Status.FAILED, Call.Status.RETRIED) else "",
                    queued=queued, claimed=queued, started=begun, ended=ended, vcpus=1, memory_mib=2048,
                    resource_seconds=30.0 if ended else None, cost=Decimal("0.000420") if ended else None)

    yield call("call-prepare", "fan.prepare", -1, 1, Call.Status.SUCCEEDED, 0.0)
    for i in range(n):
        at = 0.01 + 0.98 * i / n
        if active and i >= n - n // 10:  # the last tenth is still moving
            status = (Call.Status.RUNNING, Call.Status.SUBMITTED, Call.Status.QUEUED)[i % 3]
        elif i % 97 == 0:
            yield call(f"call-work-{i}", "fan.work", i, 1, Call.Status.RETRIED, at)
            status = Call.Status.SUCCEEDED
            yield call(f"call-work-{i}", "fan.work", i, 2, status, at)
            continue
        else:
            status = Call.Status.FAILED if i % 1009 == 1 else Call.Status.SUCCEEDED
        yield call(f"call-work-{i}", "fan.work", i, 1, status, at)
    if not active:
        yield call("call-gather", "fan.gather", -1, 1, Call.Status.SUCCEEDED, 0.995)


def build(*, calls: int):
    """Create a team with a scientist, a running run of `calls` calls, one of 100, and a finished history."""
    from django.db import connection
    from django.utils import timezone

    from teams.services import membership_set, project_create, team_create, user_create
    from workflows.models import Call, Run
    from workflows.services import run_submit, workflow_create
    from workflows.services.tallies import call_tallies_compact

    admin = user_create(username="admin", password="bench")
    member = user_create(username="member", password="bench")
    team = team_create(name="Bench", slug="bench")
    membership_set(team=team, user=admin, role="admin")
    membership_set(team=team, user=member, role="scientist")
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="fan", source=WDL, user=admin).versions.get()
    now = timezone.now()
    runs = {}
    started = time.perf_counter()
    for label, n, age_hours in [*((f"old{k}", OTHER_CALLS, 48 + k) for k in range(OTHER_RUNS)),
                                ("small", 100, 1), ("large", calls, 2)]:
        run = run_submit(version=version, user=member, inputs={"fan.n": n}, on_hold=True)
        active = not label.startswith("old")
        submitted = now - dt.timedelta(hours=age_hours)
        Run.objects.filter(pk=run.pk).update(
            submitted=submitted, started=submitted, status=Run.Status.RUNNING if active else Run.Status.SUCCEEDED,
            ended=None if active else submitted + dt.timedelta(hours=1))
        run.refresh_from_db()
        Call.objects.bulk_create(calls_for(run, n=n, now=now if active else run.ended, active=active),
                                 batch_size=5000)
        runs[label] = run
    call_tallies_compact()  # what the beat does every few seconds
    with connection.cursor() as cursor:  # what autovacuum would have done by the time anyone looks
        cursor.execute("VACUUM ANALYZE")
    print(f"built {Call.objects.count():,} calls in {len(runs)} runs in {time.perf_counter() - started:.1f} s")
    return team, member, runs


def burst(run, *, calls: int) -> None:
    """Finish `calls` running calls one statement each, as polling does, leaving the tally uncompacted."""
    from django.utils import timezone

    from workflows.models import Call

    for pk in Call.objects.filter(run=run, status=Call.Status.RUNNING).values_list("pk", flat=True)[:calls]:
        Call.objects.filter(pk=pk).update(status=Call.Status.SUCCEEDED, ended=timezone.now(), cost=Decimal("0.01"))


def measure(client, path: str, *, repeat: int, htmx: bool = False) -> tuple[float, float, int, float, float]:
    """Return p50 and p95 in ms, the query count of GET path, and the medians of its time in SQL and on this
    process's CPU (on a loaded machine the wall clock mostly measures the others)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    times, queries, sql, cpu = [], 0, [], []
    for i in range(repeat + 2):  # two warm-ups: templates compiled, connection open
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(path, **headers)
            elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
        assert response.status_code == 200, (path, response.status_code, response.content[:500])
        if i >= 2:
            times.append(elapsed * 1000)
            queries = max(queries, len(captured))
            sql.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            cpu.append(cpu_used * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, queries, statistics.median(sql), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--burst", type=int, default=3000, help="calls finished one by one before the last measure")
    args = parser.parse_args()

    url = fresh_database(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/batchsite"))
    os.environ.update(DJANGO_SETTINGS_MODULE="batchsite.settings", BATCHSITE_VAR_DIR=tempfile.mkdtemp(),
                      DATABASE_URL=url, ALLOWED_HOSTS="testserver")
    os.environ.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from workflows.models import Call
    from workflows.selectors.runs import CALLS_PER_PAGE

    team, member, runs = build(calls=args.calls)
    client = Client()
    client.force_login(member)
    results = {}
    for label in ("small", "large"):
        run = runs[label]
        last = -(-Call.objects.filter(run=run).count() // CALLS_PER_PAGE)
        pages = {
            "list": (reverse("workflows:run_list", args=[team.slug]), False),
            "detail": (reverse("workflows:run_detail", args=[run.pk]), False),
            "live": (reverse("workflows:run_live", args=[run.pk]), True),
            "detail_last_page": (reverse("workflows:run_detail", args=[run.pk]) + f"?page={last}", False),
            "detail_failed": (reverse("workflows:run_detail", args=[run.pk]) + "?status=failed", False),
            "timeline": (reverse("workflows:run_timeline", args=[run.pk]), False),
        }
        for page, (path, htmx) in pages.items():
            p50, p95, queries, sql, cpu = measure(client, path, repeat=args.repeat, htmx=htmx)
            results[(label, page)] = (p50, p95, queries)
            print(f"{label:5} {page:16} p50_ms={p50:7.1f} p95_ms={p95:7.1f} queries={queries:2} "
                  f"sql_ms={sql:6.1f} cpu_ms={cpu:6.1f}")
    burst(runs["large"], calls=args.burst)  # between two compactions of a busy run
    p50, p95, queries, sql, cpu = measure(client, reverse("workflows:run_live", args=[runs["large"].pk]),
                                          repeat=args.repeat, htmx=True)
    print(f"large live after {args.burst} one-call updates p50_ms={p50:7.1f} p95_ms={p95:7.1f} "
          f"queries={queries:2} sql_ms={sql:6.1f} cpu_ms={cpu:6.1f}")
    main_pages = ("list", "detail", "live")
    most = max(results[("large", p)][2] for p in main_pages)
    small_most = max(results[("small", p)][2] for p in main_pages)
    for page in results:
        if page[0] == "large" and results[page][2] != results[("small", page[1])][2]:
            print(f"warning: {page[1]} takes {results[page][2]} queries at {args.calls} calls, "
                  f"{results[('small', page[1])][2]} at 100", file=sys.stderr)
    if most != small_most:
        print(f"warning: max_queries {most} at {args.calls} calls, {small_most} at 100", file=sys.stderr)
    print(f"dashboard calls={args.calls} list_p95_ms={results[('large', 'list')][1]:.1f} "
          f"detail_p95_ms={results[('large', 'detail')][1]:.1f} live_p95_ms={results[('large', 'live')][1]:.1f} "
          f"max_queries={most}")


if __name__ == "__main__":
    main()
