"""The embedded default (SQLite, filesystem queue): web, worker and beat write at once and none of
them is told "database is locked", even while the worker steps a run for longer than the lock wait."""
import json
import os
import sqlite3
import subprocess
import sys

from tests.workers import ROOT, beat, running, worker

# As a view would: submit runs while the worker steps a long one, then wait for all of them.
WEB = r'''
import json, time
from django.db import OperationalError
from teams.services import membership_set, project_create, team_create, user_create
from workflows.models import Run
from workflows.services import run_submit, workflow_create

LONG = """version 1.0
workflow wf {
  input { Int n }
  scatter (i in range(n)) { Int y = i * 2 }
  output { Int count = length(y) }
}
"""
SHORT = """version 1.0
workflow small {
  input { Int i }
  call t { input: i = i }
  output { Int out = t.out }
}
task t { input { Int i } command <<< echo ~{i} >>> output { Int out = read_int(stdout()) } }
"""
user = user_create(username="alice", password="pw")
teams = [team_create(name=f"Team {s}", slug=s) for s in ("a", "b")]
projects = [project_create(team=t, name="P", slug="p") for t in teams]
for t in teams:
    membership_set(team=t, user=user, role="admin")
long_wf = workflow_create(project=projects[0], name="long", source=LONG.encode(), user=user)
short_wf = workflow_create(project=projects[1], name="small", source=SHORT.encode(), user=user)
long_run = run_submit(version=long_wf.versions.get(), user=user, inputs={"wf.n": 100000})
errors, short_runs = [], []
began = time.monotonic()
while time.monotonic() - began < 10:
    try:
        short_runs.append(run_submit(version=short_wf.versions.get(), user=user,
                                     inputs={"small.i": len(short_runs)}).pk)
    except OperationalError as exc:
        errors.append(str(exc))
    time.sleep(1)
deadline = time.monotonic() + 150
while time.monotonic() < deadline and Run.objects.exclude(status__in=Run.TERMINAL).exists():
    time.sleep(0.5)
print(json.dumps({"errors": errors, "submitted": len(short_runs),
                  "statuses": sorted(set(Run.objects.values_list("status", flat=True))),
                  "long": [Run.objects.get(pk=long_run.pk).status, Run.objects.get(pk=long_run.pk).outputs],
                  "outputs": [Run.objects.get(pk=pk).outputs for pk in short_runs]}))
'''


def test_web_worker_and_beat_share_the_sqlite_file_without_database_is_locked(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PYTEST_XDIST_WORKER") and not k.startswith("PYTEST_")}
    # The lock wait is cut to 3 s: a worker holding the write lock while it steps would show at once.
    env.update(DJANGO_SETTINGS_MODULE="batchsite.settings", BATCHSITE_VAR_DIR=str(tmp_path / "var"),
               REDIS_URL="", BATCHSITE_SQLITE_TIMEOUT="3", PYTHONUNBUFFERED="1")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    database = tmp_path / "var" / "batchsite.sqlite3"
    assert sqlite3.connect(database).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    logs = tmp_path / "logs"
    logs.mkdir()
    with running(worker(env, logs / "worker.log", concurrency=2), beat(env, logs / "beat.log")):
        web = subprocess.run([*manage, "shell", "-c", WEB], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert web.returncode == 0, web.stderr
    result = json.loads(web.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert result["long"] == ["Succeeded", {"wf.count": 100000}]
    assert result["statuses"] == ["Succeeded"]
    assert result["submitted"] >= 5 and result["outputs"] == [{"small.out": i} for i in range(result["submitted"])]
    for log in ("worker.log", "beat.log"):
        assert "database is locked" not in (logs / log).read_text(), log
