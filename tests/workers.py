"""Real Celery worker and beat processes against the test database, for tests and benchmarks."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))


def service_env(*, database_name: str, redis_url: str, var_dir: str, **extra: str) -> dict:
    """Return the environment that points a worker at this test's database, Redis and files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database_name}",
        REDIS_URL=redis_url,
        BATCHSITE_VAR_DIR=var_dir,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def services_env(tmp_path: Path, **extra: str) -> tuple[dict, Path]:
    """Return (environment, log directory) for worker and beat processes sharing this test's database,
    Redis database (emptied first) and files; the beat ticks every 0.5 s, a claim without an owner goes
    stale after 3 s (one with an owner: once its lease lapses, 8 s after its worker died)."""
    import redis
    from django.conf import settings
    from django.db import connection

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    env = service_env(database_name=connection.settings_dict["NAME"], redis_url=settings.REDIS_URL,
                      var_dir=str(settings.VAR_DIR), BATCHSITE_SUBMIT_TIMEOUT="3", BATCHSITE_TICK_SECONDS="0.5",
                      **extra)
    (tmp_path / "logs").mkdir()
    return env, tmp_path / "logs"


class Process:
    """A Celery process in a session of its own, so it and its pool die together."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.args, self.env, self.log = args, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the process and its pool children at once, as a crash would."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def session_rss(process: Process) -> int:
    """Return the resident memory in bytes of a started process and every process of its session."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
            if int(fields[3]) == process.proc.pid:
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")  # rss, in pages
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
    return total


def worker(env: dict, log: Path, *, concurrency: int = 2, name: str = "w") -> Process:
    return Process([CELERY, "-A", "batchsite", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency),
                    "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip"], env, log)


def beat(env: dict, log: Path) -> Process:
    return Process([CELERY, "-A", "batchsite", "beat", "--loglevel", "INFO",
                    "--schedule", str(log.with_suffix(".schedule"))], env, log)


@contextlib.contextmanager
def running(*processes: Process):
    """Start the processes and stop them however the block ends."""
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            process.stop()


def wait_until(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Return predicate()'s first true value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} did not hold within {timeout} s")
