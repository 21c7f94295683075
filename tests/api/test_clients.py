"""The real Cromwell clients against a live Batchsite: cromshell 2.1.1 and cromwell-tools 2.4.1.

Each client runs as a separate process from its own virtualenv; the server is pytest-django's
live_server and the engine ticks in a background thread, so runs really progress.
"""
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import requests

from teams.services import api_token_create
from tests.api.clients.venvs import client_venv
from tests.api.conftest import HELLO
from tests.api.test_metadata import SUB_INNER, SUB_MAIN
from tests.runs import engine_ticking
from tests.workers import wait_until
from workflows.models import Call, Run, Subworkflow

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SLEEPER = b"""version 1.0
workflow sleeper {
  call nap
}
task nap {
  command <<< sleep 60 >>>
}
"""
# A local provider not called "Local": cromshell prints backendLogs.log only for other backends.
CONFIG = """backend {
  default = "LocalBatch"
  providers {
    LocalBatch {
      actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
      config { include required(classpath("reference_local_provider_config.inc.conf")) }
    }
  }
}
"""

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(tmp_path, monkeypatch, live_server, alice, team, project):
    from batchsite.config import get_config
    from workflows.backends import backend_for

    (tmp_path / "batchsite.conf").write_text(CONFIG)
    monkeypatch.setenv("BATCHSITE_CONFIG", str(tmp_path / "batchsite.conf"))
    get_config.cache_clear()
    backend_for.cache_clear()
    try:
        with engine_ticking():
            yield live_server
    finally:
        get_config.cache_clear()
        backend_for.cache_clear()


@pytest.fixture
def secret(alice):
    return api_token_create(user=alice, name="clients")[1]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "hello.wdl").write_bytes(HELLO)
    (tmp_path / "inputs.json").write_text(json.dumps({"hello.who": "Ada"}))
    (tmp_path / "sleeper.wdl").write_bytes(SLEEPER)
    (tmp_path / "empty.json").write_text("{}")
    return tmp_path


class Cromshell:
    """cromshell with its config and ~/.netrc (its only way to send Basic auth) in a home of its own."""

    def __init__(self, home: Path, server: str, secret: str):
        self.bin = client_venv("cromshell")
        self.home = home
        (home / ".cromshell").mkdir(parents=True)
        (home / ".cromshell" / "cromshell_config.json").write_text(
            json.dumps({"cromwell_server": server, "requests_timeout": 60}))
        host = re.match(r"https?://([^:/]+)", server).group(1)
        netrc = home / ".netrc"
        netrc.write_text(f"machine {host} login alice password {secret}\n")
        netrc.chmod(0o600)
        browser = home / "browser"  # what `timing` opens: the page is saved for the test to read
        browser.write_text(f"#!{self.bin / 'python'}\nimport sys, requests\n"
                           f"r = requests.get(sys.argv[1], timeout=60)\n"
                           f"open({str(home / 'timing.html')!r}, 'w').write(f'{{r.status_code}}\\n{{r.text}}')\n")
        browser.chmod(0o755)
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(home), "CROMSHELL_CONFIG": str(home),
                    "NO_COLOR": "1", "BROWSER": str(browser), "LANG": "C.UTF-8"}

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.bin / "cromshell"), "--no_turtle", "-mc", *args], env=self.env,
                                capture_output=True, text=True, timeout=120, cwd=self.home)
        if ok:
            assert result.returncode == 0, f"cromshell {args}: {result.stdout}\n{result.stderr}"
        return result


def _json(text: str):
    return json.loads(text[text.index("{"):text.rindex("}") + 1])


def test_cromshell_submits_follows_and_reads_a_run(site, secret, files, tmp_path):
    cromshell = Cromshell(tmp_path / "home", site.url, secret)

    submitted = cromshell("submit", str(files / "hello.wdl"), str(files / "inputs.json"))
    body = _json(submitted.stdout)
    assert body["status"] == "Submitted" and UUID.fullmatch(body["id"])
    run = Run.objects.get(pk=body["id"])
    assert run.submitted_by.username == "alice" and run.inputs == {"hello.who": "Ada"}
    wait_until(lambda: Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED, timeout=60, message="the run to succeed")

    status = cromshell("status", str(run.pk))
    assert '"status":"Succeeded"' in status.stdout.replace(" ", "") and str(run.pk) in status.stdout

    metadata = _json(cromshell("metadata", str(run.pk)).stdout)
    assert metadata["id"] == str(run.pk) and metadata["status"] == "Succeeded"
    assert "submittedFiles" not in metadata  # cromshell asks for excludeKey=submittedFiles
    greet = metadata["calls"]["hello.greet"]
    assert [(g["executionStatus"], g["shardIndex"], g["attempt"], g["backend"]) for g in greet] == \
        [("Done", -1, 1, "LocalBatch")]
    assert metadata["outputs"]["hello.greeting"] == "Hello, Ada!"

    slim = _json(cromshell("slim-metadata", str(run.pk)).stdout)
    assert set(slim) == {"id", "status", "calls"}
    assert set(slim["calls"]["hello.greet"][0]) == {"executionStatus", "backendStatus", "callRoot",
                                                    "shardIndex", "attempt"}

    counts = cromshell("counts", str(run.pk)).stdout
    assert f"{run.pk}\tSucceeded" in counts
    assert "hello.greet\t0 Running, 1 Done, 0 Preempted, 0 Failed" in counts

    logs = cromshell("logs", "-s", "ALL", str(run.pk)).stdout
    call = Call.objects.get(run=run)
    url = f"{site.url}/api/workflows/v1/{run.pk}/calls/{call.pk}/log"
    assert f"hello.greet:\tDone\t {url}" in logs
    log = requests.get(url, auth=("alice", secret), timeout=30)
    assert log.status_code == 200 and log.text == "Hello, Ada!\n"
    assert requests.get(url + "?stream=stderr", auth=("alice", secret), timeout=30).text == "to stderr\n"

    outputs = _json(cromshell("list-outputs", "-j", str(run.pk)).stdout)
    assert outputs["hello.greeting"] == "Hello, Ada!"
    assert outputs["hello.log"].endswith("/call-greet/attempt-1/execution/greeting.txt")

    cromshell("timing", str(run.pk))
    page = (tmp_path / "home" / "timing.html").read_text()
    assert page.startswith("200\n") and "hello.greet" in page and str(run.pk) in page


def test_cromshell_reads_a_subworkflow_by_its_own_id(site, secret, tmp_path):
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("inner.wdl", SUB_INNER)
    response = requests.post(f"{site.url}/api/workflows/v1", auth=("alice", secret), timeout=60, files={
        "workflowSource": ("main.wdl", SUB_MAIN), "workflowDependencies": ("deps.zip", zipped.getvalue())})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    wait_until(lambda: Run.objects.get(pk=run_id).status == Run.Status.SUCCEEDED, timeout=90, message="the run to succeed")
    sub = Subworkflow.objects.get(run_id=run_id, shard_index=1)
    cromshell = Cromshell(tmp_path / "home", site.url, secret)

    assert '"status":"Succeeded"' in cromshell("status", str(sub.pk)).stdout.replace(" ", "")
    metadata = _json(cromshell("metadata", str(sub.pk)).stdout)
    assert (metadata["id"], metadata["workflowName"], metadata["rootWorkflowId"]) == (str(sub.pk), "shout", run_id)
    assert metadata["calls"]["shout.upper"][0]["outputs"] == {"out": "B"}
    call = Call.objects.get(run_id=run_id, call_id="call-shout-1/call-upper")
    line = f"shout.upper:\tDone\t {site.url}/api/workflows/v1/{run_id}/calls/{call.pk}/log"
    assert line in cromshell("logs", "-s", "ALL", str(sub.pk)).stdout
    # the root's logs walk into the subworkflows' expanded metadata, as cromshell does with Cromwell's
    first = Call.objects.get(run_id=run_id, call_id="call-shout-0/call-upper")
    root_logs = cromshell("logs", "-s", "ALL", run_id).stdout
    assert "SubWorkflow outer.shout" in root_logs
    assert f"shout.upper:\tDone\t {site.url}/api/workflows/v1/{run_id}/calls/{first.pk}/log" in root_logs


def test_cromshell_aborts_a_running_run(site, secret, files, tmp_path):
    cromshell = Cromshell(tmp_path / "home", site.url, secret)
    run_id = _json(cromshell("submit", "-n", str(files / "sleeper.wdl"), str(files / "empty.json")).stdout)["id"]
    wait_until(lambda: Call.objects.filter(run_id=run_id, status=Call.Status.RUNNING).exists(), timeout=60, message="the call to run")

    running = cromshell("status", run_id)
    assert '"status":"Running"' in running.stdout.replace(" ", "")
    aborted = _json(cromshell("abort", run_id).stdout)
    assert aborted == {"id": run_id, "status": "Aborting"}
    wait_until(lambda: Run.objects.get(pk=run_id).status == Run.Status.ABORTED, timeout=60, message="the run to be aborted")
    assert '"status":"Aborted"' in cromshell("status", run_id).stdout.replace(" ", "")
    counts = cromshell("counts", run_id).stdout
    assert f"{run_id}\tAborted" in counts


def test_cromshell_without_credentials_is_told_401(site, files, tmp_path):
    cromshell = Cromshell(tmp_path / "home", site.url, "bst_wrong")
    result = cromshell("submit", "-n", str(files / "hello.wdl"), str(files / "inputs.json"), ok=False)
    assert result.returncode != 0
    # cromshell checks /backends first and prints the body it got: Batchsite's 401, not a connection error.
    assert "The user name and API token are not valid" in result.stdout + result.stderr
    assert not Run.objects.exists()


class CromwellTools:
    """cromwell-tools' CLI, and its Python API for what the CLI lacks (query), with HTTP Basic auth."""

    def __init__(self, server: str, secret: str, username: str = "alice"):
        self.bin = client_venv("cromwell-tools")
        self.auth = ["--url", server, "--username", username, "--password", secret]
        self.server, self.secret, self.username = server, secret, username

    def __call__(self, command: str, *args: str) -> str:
        result = subprocess.run([str(self.bin / "cromwell-tools"), command, *self.auth, *args], capture_output=True,
                                text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        assert result.returncode == 0, f"cromwell-tools {command}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def query(self, query: dict) -> dict:
        script = ("import json, sys\nfrom cromwell_tools.cromwell_api import CromwellAPI\n"
                  "from cromwell_tools.cromwell_auth import CromwellAuth\n"
                  "auth = CromwellAuth.harmonize_credentials(url=sys.argv[1], username=sys.argv[4], password=sys.argv[2])\n"
                  "response = CromwellAPI.query(json.loads(sys.argv[3]), auth, raise_for_status=True)\n"
                  "print(json.dumps(response.json()))\n")
        result = subprocess.run([str(self.bin / "python"), "-c", script, self.server, self.secret, json.dumps(query),
                                 self.username],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def test_cromwell_tools_submits_follows_queries_and_aborts(site, secret, files, carol, other_team):
    tools = CromwellTools(site.url, secret)
    (files / "labels.json").write_text(json.dumps({"batchsite-project": "genomics/exomes", "sample": "s1"}))

    body = json.loads(tools("submit", "-w", str(files / "hello.wdl"), "-i", str(files / "inputs.json"),
                            "-l", str(files / "labels.json")))
    assert body["status"] == "Submitted"
    run_id = body["id"]
    wait_until(lambda: Run.objects.get(pk=run_id).status == Run.Status.SUCCEEDED, timeout=60, message="the run to succeed")

    assert json.loads(tools("status", "--uuid", run_id)) == {"status": "Succeeded", "id": run_id}
    metadata = json.loads(tools("metadata", "--uuid", run_id))
    assert metadata["workflowName"] == "hello" and metadata["status"] == "Succeeded"
    assert metadata["labels"]["sample"] == "s1"
    assert metadata["calls"]["hello.greet"][0]["executionStatus"] == "Done"
    only_status = json.loads(tools("metadata", "--uuid", run_id, "--includeKey", "status"))
    assert only_status == {"id": run_id, "status": "Succeeded", "calls": {}}

    sleeper = json.loads(tools("submit", "-w", str(files / "sleeper.wdl"), "-i", str(files / "empty.json")))["id"]
    wait_until(lambda: Call.objects.filter(run_id=sleeper, status=Call.Status.RUNNING).exists(), timeout=60, message="the call to run")
    assert json.loads(tools("abort", "--uuid", sleeper)) == {"id": sleeper, "status": "Aborting"}
    wait_until(lambda: Run.objects.get(pk=sleeper).status == Run.Status.ABORTED, timeout=60, message="the run to be aborted")

    found = tools.query({"label": {"sample": "s1"}, "status": ["Succeeded", "Running"]})
    assert [r["id"] for r in found["results"]] == [run_id] and found["totalResultsCount"] == 1
    everything = tools.query({"additionalQueryResultFields": "labels"})
    assert {r["id"]: r["status"] for r in everything["results"]} == {run_id: "Succeeded", sleeper: "Aborted"}
    assert everything["results"][1]["labels"]["sample"] == "s1"

    outsider = CromwellTools(site.url, api_token_create(user=carol, name="carol")[1], username="carol")
    assert outsider.query({})["totalResultsCount"] == 0
    response = requests.get(f"{site.url}/api/workflows/v1/{run_id}/metadata", auth=("carol", outsider.secret),
                            timeout=30)
    assert response.status_code == 404 and response.json()["message"] == f"Unrecognized workflow ID: {run_id}"
