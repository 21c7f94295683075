"""The real GA4GH client, wes-client 5.0 (PyPI wes-service), against a live Batchsite.

It runs from a virtualenv of its own (.venv-wes); the server is pytest-django's live_server and the
engine ticks in a background thread, so runs really progress.
"""
import base64
import json
import re
import subprocess
from pathlib import Path

import pytest
import requests

from teams.services import api_token_create
from tests.api.clients.venvs import client_venv
from tests.runs import engine_ticking
from tests.wes.conftest import GREET, MAIN, SLEEPER
from tests.workers import wait_until
from workflows.models import Call, Run

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(live_server, alice, team, project):
    with engine_ticking():
        yield live_server


class WesClient:
    """wes-client's command line, and its Python API for what the command line lacks (status, cancel).

    wes-client builds {proto}://{host}/ga4gh/wes/v1/..., so its host is the server's with /api after it.
    It sends no Authorization header when it submits: requests then takes the credentials from ~/.netrc.
    """

    def __init__(self, home: Path, server: str, username: str, secret: str):
        self.bin = client_venv("wes")
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        host = re.match(r"https?://([^:/]+)", server).group(1)
        (home / ".netrc").write_text(f"machine {host} login {username} password {secret}\n")
        (home / ".netrc").chmod(0o600)
        basic = base64.b64encode(f"{username}:{secret}".encode()).decode()
        self.env = {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
                    "WES_API_HOST": server.removeprefix("http://") + "/api", "WES_API_PROTO": "http",
                    "WES_API_AUTH": f"Basic {basic}"}

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([str(self.bin / "wes-client"), *args], env=self.env, capture_output=True, text=True,
                                timeout=180, cwd=self.home)
        if ok:
            assert result.returncode == 0, f"wes-client {args}: {result.stdout}\n{result.stderr}"
        return result

    def api(self, method: str, run_id: str) -> dict:
        script = ("import json, os, sys\nfrom wes_client.util import WESClient\n"
                  "client = WESClient({'auth': {'Authorization': os.environ['WES_API_AUTH']}, 'proto': 'http', "
                  "'host': os.environ['WES_API_HOST']})\n"
                  "print(json.dumps(getattr(client, sys.argv[1])(sys.argv[2])))\n")
        result = subprocess.run([str(self.bin / "python"), "-c", script, method, run_id], env=self.env,
                                capture_output=True, text=True, timeout=120, cwd=self.home)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "wf" / "lib").mkdir(parents=True)
    (tmp_path / "wf" / "main.wdl").write_bytes(MAIN)
    (tmp_path / "wf" / "lib" / "greet.wdl").write_bytes(GREET)
    (tmp_path / "wf" / "sleeper.wdl").write_bytes(SLEEPER)
    (tmp_path / "wf" / "inputs.json").write_text(json.dumps({"hello.who": "Ada"}))
    (tmp_path / "wf" / "empty.json").write_text("{}")
    return tmp_path / "wf"


def test_wes_client_runs_an_attached_workflow_and_reads_it_back(site, alice, workdir, tmp_path):
    wes = WesClient(tmp_path / "home", site.url, "alice", api_token_create(user=alice, name="wes")[1])

    info = json.loads(wes("--info").stdout)
    assert info["workflow_engine_versions"] == {"Batchsite": {"workflow_engine_version": ["batchsite-1"]}}
    assert "draft-2" in info["workflow_type_versions"]["WDL"]["workflow_type_version"]  # what wes-client sends

    # Submit, wait (wes-client polls the status), print the outputs: exit 0 only when COMPLETE.
    waited = wes(str(workdir / "main.wdl"), str(workdir / "inputs.json"),
                 f"--attachments={workdir / 'lib' / 'greet.wdl'}")
    assert json.loads(waited.stdout) == {"hello.greeting": "Hello, Ada!"}
    assert "State is COMPLETE" in waited.stderr
    run = Run.objects.get()
    assert run.submitted_by == alice and run.inputs == {"hello.who": "Ada"} and run.status == Run.Status.SUCCEEDED

    log = json.loads(wes(f"--get={run.pk}").stdout)
    assert log["run_id"] == str(run.pk) and log["state"] == "COMPLETE"
    assert log["request"]["workflow_url"] == "main.wdl" and log["outputs"] == {"hello.greeting": "Hello, Ada!"}
    tasks = requests.get(log["task_logs_url"], headers={"Authorization": wes.env["WES_API_AUTH"]}, timeout=30).json()
    assert [t["name"] for t in tasks["task_logs"]] == ["hello.greet"]
    assert requests.get(tasks["task_logs"][0]["stdout"], headers={"Authorization": wes.env["WES_API_AUTH"]},
                        timeout=30).text == "Hello, Ada!\n"

    listed = json.loads(wes("--list").stdout)
    assert [(r["run_id"], r["state"]) for r in listed["runs"]] == [(str(run.pk), "COMPLETE")]


def test_wes_client_cancels_a_running_workflow(site, alice, carol, other_team, workdir, tmp_path):
    wes = WesClient(tmp_path / "home", site.url, "alice", api_token_create(user=alice, name="wes")[1])
    submitted = wes("--no-wait", str(workdir / "sleeper.wdl"), str(workdir / "empty.json"))
    run_id = submitted.stdout.strip()
    assert UUID.fullmatch(run_id)
    wait_until(lambda: Call.objects.filter(run_id=run_id, status=Call.Status.RUNNING).exists(), timeout=60,
               message="the call to run")
    assert wes.api("get_run_status", run_id) == {"run_id": run_id, "state": "RUNNING"}

    assert wes.api("cancel", run_id) == {"run_id": run_id}
    wait_until(lambda: Run.objects.get(pk=run_id).status == Run.Status.ABORTED, timeout=60,
               message="the run to be canceled")
    assert wes.api("get_run_status", run_id)["state"] == "CANCELED"

    outsider = WesClient(tmp_path / "carol", site.url, "carol", api_token_create(user=carol, name="wes")[1])
    assert json.loads(outsider("--list").stdout) == {"runs": [], "next_page_token": ""}
    refused = outsider(f"--get={run_id}", ok=False)
    assert refused.returncode != 0 and f"No run {run_id} in your teams" in refused.stderr


def test_wes_client_without_valid_credentials_is_told_401(site, workdir, tmp_path):
    wes = WesClient(tmp_path / "home", site.url, "alice", "bst_wrong")
    result = wes("--no-wait", str(workdir / "main.wdl"), str(workdir / "inputs.json"),
                 f"--attachments={workdir / 'lib' / 'greet.wdl'}", ok=False)
    assert result.returncode != 0 and "The user name and API token are not valid" in result.stderr
    assert not Run.objects.exists()
