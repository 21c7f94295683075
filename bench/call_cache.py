"""Benchmark: call caching. An N-shard scatter that writes a file per shard, run twice with
call-caching enabled; the rerun should reuse every call.

    .venv/bin/python bench/call_cache.py --shards 1000 [--batch-shards 10000]

Local part: PostgreSQL, Redis, 2 Celery worker processes and beat, the local backend, team cap 64
(as bench/local_scatter.py). Last line: call_cache shards=N first_s=A rerun_s=B hits=H ratio=R
(R = B / A; target H = N, R <= 0.2).

Batch part (--batch-shards, 0 to skip): the same scatter on AWS Batch (moto's server, this process
the worker, as bench/batch_scatter.py's capped run: a job SubmitJob accepted has run and written its
files), run twice; it prints the rerun's SubmitJob calls (target 0) and hits.
"""
import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WDL = """version 1.0
workflow scatter_files {
  input { Int n }
  scatter (i in range(n)) { call write { input: i = i } }
  output { Array[File] out = write.out }
}
task write {
  input { Int i }
  command <<< echo ~{i} > out.txt >>>
  output { File out = "out.txt" }
  runtime { docker: "ubuntu:22.04" }
}
"""
LOCAL_CONFIG = """call-caching { enabled = true }
backend {
  default = "Local"
  providers {
    Local {
      actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
      config { root = "cromwell-executions", concurrent-job-limit = 10000 }
    }
  }
}
"""
BATCH_CONFIG = """call-caching {{ enabled = true }}
aws {{ application-name = "bench", auths = [{{ name = "default", scheme = "default" }}], region = "us-east-1" }}
backend {{
  default = "AWSBatch"
  providers.AWSBatch {{
    actor-factory = "cromwell.backend.impl.aws.AwsBatchBackendLifecycleActorFactory"
    config {{
      root = "s3://bench-runs/cromwell-execution"
      filesystems.s3.caching.duplication-strategy = "copy"
      default-runtime-attributes {{ queueArn = "{queue}", scriptBucketName = "bench-scripts" }}
    }}
  }}
}}
"""
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6387/9")


def local_part(shards: int, work: Path) -> str:
    from bench.common import django_on_fresh_database
    from tests.workers import beat, running, wait_until, worker

    env = django_on_fresh_database(database="batchsite_bench_cache", redis_url=REDIS_URL, work=work,
                                   config=LOCAL_CONFIG)
    from teams.services import project_create, team_create
    from workflows.models import Call, Run
    from workflows.services import run_submit, workflow_create

    team = team_create(name="Bench", slug="bench", max_running_jobs=64)
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="Scatter files", source=WDL.encode()).versions.get()
    logs = work / "logs"
    logs.mkdir()
    timings = []
    with running(worker(env, logs / "worker.log", concurrency=2), beat(env, logs / "beat.log")):
        time.sleep(3)  # let both come up: the figure is the run, not Celery's start-up
        for _ in range(2):
            started = time.monotonic()
            run = run_submit(version=version, user=None, inputs={"scatter_files.n": shards})
            status = wait_until(lambda: (s := Run.objects.values_list("status", flat=True).get(pk=run.pk))
                                in Run.TERMINAL and s, timeout=float(os.environ.get("BENCH_TIMEOUT", 900)),
                                interval=0.05, message="the run finishing")
            timings.append(time.monotonic() - started)
            if status != "Succeeded":
                raise SystemExit(f"run ended {status}: {Run.objects.get(pk=run.pk).failures}")
            print(f"run {len(timings)}: {timings[-1]:.2f} s", flush=True)
    hits = Call.objects.filter(run=run, cached_from__isnull=False).count()
    first, rerun = timings
    return (f"call_cache shards={shards} first_s={first:.2f} rerun_s={rerun:.2f} hits={hits} "
            f"ratio={rerun / first:.2f}")


def batch_part(shards: int, work: Path) -> str:
    from bench.batch_scatter import aws_setup, start_moto

    moto, url = start_moto()
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    try:
        return _batch_runs(shards, aws_setup(), work)
    finally:
        moto.terminate()
        moto.wait()


def _batch_runs(shards: int, queue: str, work: Path) -> str:
    from bench.common import django_on_fresh_database

    django_on_fresh_database(database="batchsite_bench_cache_batch", redis_url=REDIS_URL, work=work,
                             config=BATCH_CONFIG.format(queue=queue))
    from batchsite.celery import app
    from teams.services import project_create, team_create
    from workflows.backends import backend_for
    from workflows.backends.aws_batch.workspace import split_uri
    from workflows.models import Call, Run
    from workflows.services import run_submit, tick, workflow_create

    app.conf.task_always_eager = True  # this process is the worker
    logging.disable(logging.INFO)
    role = "arn:aws:iam::111111111111:role/bench"
    team = team_create(name="Bench", slug="bench", max_running_jobs=500, allowed_role_arns=[role],
                       default_role_arn=role)
    project = project_create(team=team, name="Bench", slug="bench")
    version = workflow_create(project=project, name="Scatter files", source=WDL.encode()).versions.get()
    backend = backend_for("AWSBatch")
    submit_jobs = 0

    def after_submit(**_):  # the compute: every job Batch accepts runs at once and leaves its files
        nonlocal submit_jobs
        submit_jobs += 1
        objects = []
        for call_dir, command in Call.objects.filter(team=team, status=Call.Status.SUBMITTING).values_list(
                "call_dir", "command"):
            shard = command.split()[1]
            objects += [(f"{call_dir}/execution/{name}", body) for name, body in (
                ("out.txt", f"{shard}\n".encode()), ("stdout", b""), ("stderr", b""), ("rc", b"0\n"))]
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda item: backend.s3.put_object(Bucket=split_uri(item[0])[0], Key=split_uri(item[0])[1],
                                                             Body=item[1]), objects))

    backend.submitter.meta.events.register("after-call.batch.SubmitJob", after_submit)
    figures = []
    for _ in range(2):
        submit_jobs, started = 0, time.monotonic()
        run = run_submit(version=version, user=None, inputs={"scatter_files.n": shards})
        while Run.objects.values_list("status", flat=True).get(pk=run.pk) not in Run.TERMINAL:
            tick()
            if time.monotonic() - started > 3600:
                raise SystemExit("the run did not finish within an hour")
        run.refresh_from_db()
        if run.status != Run.Status.SUCCEEDED:
            raise SystemExit(f"the batch run ended {run.status}: {run.failures}")
        figures.append((time.monotonic() - started, submit_jobs))
        print(f"batch run {len(figures)}: {figures[-1][0]:.1f} s, submit_job_calls={submit_jobs}", flush=True)
    hits = Call.objects.filter(run=run, cached_from__isnull=False).count()
    return (f"call_cache_batch shards={shards} first_s={figures[0][0]:.1f} rerun_s={figures[1][0]:.1f} "
            f"hits={hits} rerun_submit_job_calls={figures[1][1]}")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--batch-shards", type=int, default=0, help="also run the AWS Batch part (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (worker and beat logs)")
    args = parser.parse_args()
    lines = []
    if args.batch_shards:
        work = Path(tempfile.mkdtemp(prefix="bench-call-cache-batch-"))
        lines.append(batch_part(args.batch_shards, work))
        shutil.rmtree(work, ignore_errors=True)
    if args.shards:
        work = Path(tempfile.mkdtemp(prefix="bench-call-cache-"))
        lines.append(local_part(args.shards, work))
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
