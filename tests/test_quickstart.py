"""`make run` from this checkout: web, worker and beat come up, alice logs in, Ctrl-C stops all."""
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser import SCREENSHOTS, chromium_page, free_port, screenshot

ROOT = Path(__file__).resolve().parent.parent


def wait_for(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"make run exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def session_processes(sid: int) -> str:
    return subprocess.run(["pgrep", "-a", "-s", str(sid)], capture_output=True, text=True).stdout.strip()


@pytest.mark.browser
def test_make_run_serves_the_login_page_and_alice_sees_the_demo_team(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "BATCHSITE_PLAIN_STATIC", "PYTEST_XDIST_WORKER")}
    # A fresh var/ of its own, and a Redis URL that does not answer: the embedded queue is used.
    env.update(BATCHSITE_VAR_DIR=str(tmp_path / "var"), PORT=str(port), REDIS_URL="redis://127.0.0.1:1/0")
    log = open(tmp_path / "make-run.log", "w")
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/accounts/login/", proc, timeout=120)
        with chromium_page() as page:
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-demo")
            page.click("button[type=submit]")
            page.wait_for_selector("#team-demo")
            assert "Demo Lab" in page.inner_text("#team-demo")
            assert "Hello world" in page.inner_text("#team-demo")
            screenshot(page, "quickstart-dashboard")
        output = (tmp_path / "make-run.log").read_text()
        assert f"http://127.0.0.1:{port}/" in output and "alice/alice-demo" in output
        assert "filesystem queue" in output
        # Ctrl-C: the terminal sends SIGINT to the whole foreground group.
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and session_processes(proc.pid):
            time.sleep(0.2)
        assert session_processes(proc.pid) == "", "web, worker or beat kept running after Ctrl-C"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert (SCREENSHOTS / "quickstart-dashboard.png").stat().st_size > 0
