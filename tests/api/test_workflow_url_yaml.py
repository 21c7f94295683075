"""workflowUrl (fetched only under the operators' allowed prefixes, never into the site's network) and YAML inputs."""
import http.server
import threading
import time

import pytest

from tests.api.conftest import HELLO, submit, upload
from workflows.models import Run

SETTING = "workflow-url.allowed-prefixes"


class WdlServer(http.server.BaseHTTPRequestHandler):
    """Serves HELLO at /wdl/hello.wdl, a redirect, a large file and a slow one; records each path asked."""

    asked: list[str] = []

    def do_GET(self):
        self.asked.append(self.path)
        if self.path == "/wdl/moved.wdl":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path == "/wdl/slow.wdl":
            time.sleep(1.5)
        body = b"x" * 200 if self.path == "/wdl/large.wdl" else HELLO
        try:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the slow file: Batchsite gave up waiting, as it should

    def log_message(self, *args):
        pass


@pytest.fixture
def wdl_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WdlServer)
    WdlServer.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow(tmp_path, monkeypatch):
    """Return a function that writes a config allowing these workflowUrl prefixes, and loads it."""
    from batchsite.config import get_config

    def allow(*prefixes: str):
        quoted = ", ".join(f'"{prefix}"' for prefix in prefixes)
        (tmp_path / "batchsite.conf").write_text('include required(classpath("application"))\n'
                                                 f"workflow-url.allowed-prefixes = [{quoted}]\n")
        monkeypatch.setenv("BATCHSITE_CONFIG", str(tmp_path / "batchsite.conf"))
        get_config.cache_clear()
        assert get_config().workflow_url_prefixes == prefixes

    yield allow
    get_config.cache_clear()


def _by_url(client, headers, url, **parts):
    return client.post("/api/workflows/v1", {"workflowUrl": url, **parts}, **headers)


def test_a_workflow_url_is_refused_while_no_prefix_is_allowed(client, alice_auth, wdl_server):
    response = _by_url(client, alice_auth, f"{wdl_server}/wdl/hello.wdl")
    body = response.json()
    assert response.status_code == 400 and body["status"] == "fail"
    assert "workflowUrl" in body["message"] and SETTING in body["message"]
    assert body["errors"] == [f"workflowUrl: is not fetched: this server fetches no workflow URLs (its operators set "
                              f"none in {SETTING}); send the WDL itself as workflowSource"]
    assert WdlServer.asked == [] and not Run.objects.exists()


def test_a_workflow_url_under_an_allowed_prefix_is_fetched_and_run(client, alice_auth, wdl_server, allow):
    allow(f"{wdl_server}/wdl/")
    response = _by_url(client, alice_auth, f"{wdl_server}/wdl/hello.wdl",
                       workflowInputs=upload({"hello.who": "URL"}, "i.json"), workflowOnHold="true")
    assert response.status_code == 201, response.content
    run = Run.objects.get(pk=response.json()["id"])
    assert run.inputs == {"hello.who": "URL"} and run.version.workflow.name == "hello"
    with run.version.source.open("rb") as source:
        assert source.read() == HELLO
    assert run.version.source.name.endswith("hello.wdl")
    assert WdlServer.asked == ["/wdl/hello.wdl"]
    described = client.post("/api/womtool/v1/describe", {"workflowUrl": f"{wdl_server}/wdl/hello.wdl"},
                            **alice_auth).json()
    assert described["valid"] and described["name"] == "hello"


@pytest.mark.parametrize("path, problem", [
    ("/other/hello.wdl", "is not under a prefix this server fetches from (workflow-url.allowed-prefixes: "),
    ("/wdl/moved.wdl", "could not be fetched: the server answered 302 Found (redirects are not followed)"),
    ("/wdl/large.wdl", "could not be fetched: it is over 100 bytes"),
    ("/wdl/slow.wdl", "could not be fetched: timed out"),
])
def test_a_workflow_url_is_refused_outside_the_prefixes_and_limits(client, alice_auth, wdl_server, allow,
                                                                    monkeypatch, path, problem):
    import workflows.api.urlfetch

    monkeypatch.setattr(workflows.api.urlfetch, "MAX_SOURCE_BYTES", 100)
    monkeypatch.setattr(workflows.api.urlfetch, "TIMEOUT_SECONDS", 0.5)
    allow(f"{wdl_server}/wdl/")
    response = _by_url(client, alice_auth, f"{wdl_server}{path}")
    assert response.status_code == 400 and problem in response.json()["message"], response.json()
    assert not Run.objects.exists()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://alice:secret@127.0.0.1:1/wdl/x.wdl"])
def test_a_workflow_url_of_another_scheme_or_with_credentials_is_refused(client, alice_auth, allow, url):
    allow("http://127.0.0.1:1/wdl/")
    response = _by_url(client, alice_auth, url)
    assert response.status_code == 400 and "is not under a prefix" in response.json()["message"]


def test_a_host_name_resolving_into_the_sites_network_is_refused(client, alice_auth, wdl_server, allow):
    # an allowed name that resolves to loopback (or a private address: DNS rebinding) is never connected to
    port = wdl_server.rsplit(":", 1)[1]
    allow(f"http://localhost:{port}/wdl/")
    response = _by_url(client, alice_auth, f"http://localhost:{port}/wdl/hello.wdl")
    assert response.status_code == 400
    assert "resolves to a private, loopback or link-local address" in response.json()["message"]
    assert WdlServer.asked == []


def test_other_problems_are_reported_before_anything_is_fetched(client, alice_auth, wdl_server, allow):
    allow(f"{wdl_server}/wdl/")
    response = _by_url(client, alice_auth, f"{wdl_server}/wdl/hello.wdl", workflowOptions=upload(b"[", "o.json"))
    assert response.status_code == 400 and "workflowOptions is not valid JSON" in response.json()["errors"][0]
    assert WdlServer.asked == []


def test_a_prefix_that_does_not_end_its_host_is_a_config_error(tmp_path):
    from batchsite.config import ConfigError, parse_config_text

    with pytest.raises(ConfigError, match="workflow-url.allowed-prefixes"):
        parse_config_text('include required(classpath("application"))\n'
                          'workflow-url.allowed-prefixes = ["https://example.org"]\n', base_dir=tmp_path)


def test_yaml_inputs_are_accepted_as_cromwell_accepts_them(client, alice_auth):
    response = submit(client, alice_auth, HELLO, workflowInputs=upload(b"hello.who: 2024-01-02\n", "i.yaml"))
    assert response.status_code == 201, response.content
    assert Run.objects.get().inputs == {"hello.who": "2024-01-02"}  # a date stays text, as in JSON
    batch = submit(client, alice_auth, HELLO, url="/api/workflows/v1/batch",
                   workflowInputs=upload(b"- hello.who: Ada\n- {hello.who: Grace}\n", "i.yaml"))
    assert batch.status_code == 201, batch.content
    assert sorted(Run.objects.get(pk=r["id"]).inputs["hello.who"] for r in batch.json()) == ["Ada", "Grace"]


@pytest.mark.parametrize("text, problem", [
    (b"a: &x [1]\nb: *x\n", "workflowInputs is neither JSON nor YAML: aliases (*name) are not accepted"),
    (b"hello.who: [unclosed\n", "workflowInputs is neither JSON nor YAML"),
    (b"hello.who: !!binary aGk=\n", "workflowInputs is neither JSON nor YAML"),
    (b"hello.who: .nan\n", "hello.who: nan is not a finite number"),
    (b"just text\n", "workflowInputs must be a JSON object"),
])
def test_bad_yaml_inputs_are_400_naming_the_problem(client, alice_auth, text, problem):
    response = submit(client, alice_auth, HELLO, workflowInputs=upload(text, "i.yaml"))
    assert response.status_code == 400 and problem in response.json()["message"], response.json()
    assert not Run.objects.exists()


def test_a_workflow_url_with_a_port_out_of_range_is_refused(client, alice_auth, allow):
    allow("http://example.org:99999/")
    response = _by_url(client, alice_auth, "http://example.org:99999/wdl/hello.wdl")
    assert response.status_code == 400 and "cannot be fetched: Port out of range" in response.json()["message"]
