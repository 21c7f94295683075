"""Answer label queries on a fresh SQLite database, the `make run` default: `python sqlite_queries.py DIR QUERIES`.

QUERIES is a JSON list of query parameter lists; prints, for each, the status code and the sample labels
of the runs found (API query), then the run list page's label filter. The runs' label rows are rebuilt
by migration 0004's data migration from the JSON labels, as on an upgraded installation.
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
var = Path(sys.argv[1])
os.environ.update(DATABASE_URL=f"sqlite:///{var / 'batchsite.sqlite3'}", BATCHSITE_VAR_DIR=str(var),
                  DJANGO_SETTINGS_MODULE="batchsite.settings", BATCHSITE_CONFIG="")
os.environ.pop("REDIS_URL", None)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from teams.models import Membership  # noqa: E402
from teams.services import membership_set, project_create, team_create, user_create  # noqa: E402
from workflows.models import RunLabel  # noqa: E402
from workflows.services import run_submit, workflow_create  # noqa: E402

assert connection.vendor == "sqlite"
setup_test_environment()
call_command("migrate", verbosity=0)
alice = user_create(username="alice", password="pw")
team = team_create(name="Lab", slug="lab")
membership_set(team=team, user=alice, role=Membership.Role.ADMIN)
project = project_create(team=team, name="P", slug="p")
source = b'version 1.0\nworkflow hello { input { String who = "x" } }\n'
version = workflow_create(project=project, name="hello", source=source, user=alice).versions.get()
for sample, batch in (("s0", "b1"), ("s1", "b1"), ("s2", "b2")):
    run_submit(version=version, user=alice, labels={"sample": sample, "batch": batch}, on_hold=True)

# as an installation that had only JSON labels: the data migration writes the rows
call_command("migrate", "workflows", "0003", verbosity=0)
call_command("migrate", verbosity=0)
assert RunLabel.objects.count() == 6, RunLabel.objects.count()

client = Client()
client.force_login(alice)
answers = []
for params in json.loads(sys.argv[2]):
    response = client.get("/api/workflows/v1/query", [*params, ["additionalQueryResultFields", "labels"]])
    body = response.json()
    samples = sorted(r["labels"]["sample"] for r in body.get("results", []))
    answers.append({"status": response.status_code, "json": response["Content-Type"] == "application/json",
                    "samples": samples, "total": body.get("totalResultsCount")})
page = client.get("/teams/lab/runs/", {"label": "batch=b1"})
answers.append({"status": page.status_code, "samples": sorted(r.labels["sample"] for r in page.context["page"])})
print(json.dumps(answers))
