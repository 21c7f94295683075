"""What the benchmarks share: a fresh PostgreSQL database and Django set up on it."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_on_fresh_database(*, database: str, redis_url: str, work: Path, config: str) -> dict:
    """Drop and create the database, migrate it and set Django up on it in this process.

    The Batchsite config (HOCON text) goes to work/bench.conf and var files under work/var.
    Returns the environment worker processes need to share all of it.
    """
    import psycopg
    import redis

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    redis.Redis.from_url(redis_url).flushdb()
    (work / "bench.conf").write_text(config)
    from tests.workers import service_env

    env = service_env(database_name=database, redis_url=redis_url, var_dir=str(work / "var"),
                      BATCHSITE_CONFIG=str(work / "bench.conf"))
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    return env
