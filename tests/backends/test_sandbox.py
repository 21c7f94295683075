"""The local backend's bubblewrap sandbox: what a task can reach of this host, and what it cannot."""
import os
import secrets
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from batchsite.config import ConfigError, get_config, parse_config_text
from tests.runs import Eager, drive, submit
from workflows import selectors
from workflows.backends import backend_for, sandbox
from workflows.models import Call
from workflows.services import run_abort

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = """
backend.default = "Local"
backend.providers.Local {
  actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
  config { root = "cromwell-executions", sandbox { %s } }
}
"""
SECRETS = {"DJANGO_SECRET_KEY": "django-secret-2", "AWS_SECRET_ACCESS_KEY": "aws-secret-3",
           "AWS_ACCESS_KEY_ID": "AKIAAWSKEY4", "AWS_SESSION_TOKEN": "aws-token-5"}
BASH_ENV = {"PWD", "SHLVL", "_", "OLDPWD"}  # what bash itself sets


@pytest.fixture
def sandbox_config(tmp_path, monkeypatch):
    """Return a function that makes the Local provider's sandbox block this text."""
    def use(block: str) -> None:
        (tmp_path / "batchsite.conf").write_text(CONFIG % block)
        monkeypatch.setenv("BATCHSITE_CONFIG", str(tmp_path / "batchsite.conf"))
        get_config.cache_clear()
        backend_for.cache_clear()

    yield use
    get_config.cache_clear()
    backend_for.cache_clear()


@pytest.fixture
def worker_secrets(monkeypatch):
    """Return the worker's secrets: its DATABASE_URL and REDIS_URL, and a secret key and AWS keys it is given."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert os.environ["DATABASE_URL"] and os.environ["REDIS_URL"]
    return {**SECRETS, "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}


@pytest.fixture
def database_file():
    """A stand-in for the SQLite database of `make run`, readable by anyone who can see it."""
    path = Path(settings.VAR_DIR) / "batchsite.sqlite3"  # where `make run` keeps it
    path.write_text("alice:pbkdf2_sha256$password-hash\n")
    path.chmod(0o644)
    return path


def run_task(project, user, command: str, *, outputs: str = "", runtime: str = "", inputs: dict | None = None,
             declarations: str = "", version: str = "1.0"):
    wdl = f"""version {version}
workflow wf {{ call t }}
task t {{
  {declarations}
  command <<<
{command}
  >>>
  output {{ {outputs} }}
  runtime {{ {runtime} }}
}}
"""
    with Eager():
        run = drive(submit(project, user, wdl, inputs=inputs, name=f"wf-{secrets.token_hex(4)}"))
    return run, Call.objects.filter(run=run).order_by("-attempt").first()


def stdout_of(call: Call) -> str:
    return (Path(call.call_dir) / "execution" / "stdout").read_text()


def probe(paths: dict[str, str]) -> str:
    """Bash that reports each path as present or absent, the environment's names and values, the network."""
    lines = [f'[ -e "{path}" ] && echo "{name}: present" || echo "{name}: absent"' for name, path in paths.items()]
    lines += ["echo \"uid: $(id -u)\"",
              "(echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null && echo 'postgres: open' || echo 'postgres: closed'",
              "echo \"env names: $(env | cut -d= -f1 | sort | tr '\\n' ' ')\"", "env",
              f"echo \"var holds: $(ls -A {settings.VAR_DIR} | sort | tr '\\n' ' ')\""]
    return "\n".join(lines)


@pytest.fixture
def other_run_file(project, alice):
    """A file another run wrote in its own call directory."""
    run, call = run_task(project, alice, "echo other-run-secret > private.txt", outputs='File f = "private.txt"')
    assert run.status == "Succeeded"
    return run.outputs["wf.t.f"]


def host_paths(database_file, other_run_file) -> dict[str, str]:
    return {"database": str(database_file), "checkout": str(Path(settings.BASE_DIR) / "manage.py"),
            "other run": other_run_file, "shadow": "/etc/shadow"}


def test_a_task_finds_every_door_of_the_host_closed(project, alice, worker_secrets, database_file, other_run_file):
    command = probe(host_paths(database_file, other_run_file)) + """
touch /written-to-root 2>/dev/null && echo 'root: written' || echo 'root: read-only'
touch /usr/written 2>/dev/null && echo 'usr: written' || echo 'usr: read-only'
echo mine > here.txt && echo 'call dir: written'
"""
    run, call = run_task(project, alice, command)

    assert run.status == "Succeeded", call.failure
    out = stdout_of(call)
    for name in ("database", "checkout", "other run", "shadow"):
        assert f"{name}: absent" in out, out
    assert "var holds: cromwell-executions \n" in out  # only the way down to its own call directory
    assert "uid: 65534" in out
    assert "postgres: closed" in out
    names = set(out.split("env names: ")[1].split("\n")[0].split())
    assert names - BASH_ENV == {"HOME", "PATH", "TMPDIR"}, names
    for value in worker_secrets.values():
        assert value not in out
    assert "root: read-only" in out and "usr: read-only" in out and "call dir: written" in out
    assert not Path("/written-to-root").exists()


def test_without_the_sandbox_the_same_probe_finds_every_door_open(project, alice, worker_secrets, database_file,
                                                                   other_run_file, sandbox_config):
    """The control: a trusted single-user setup without bubblewrap runs calls as the worker, and sees all."""
    sandbox_config('bwrap = "/nonexistent/bwrap", trusted-single-user = true')
    run, call = run_task(project, alice, probe(host_paths(database_file, other_run_file)))

    assert run.status == "Succeeded", call.failure
    out = stdout_of(call)
    for name in ("database", "checkout", "other run", "shadow"):
        assert f"{name}: present" in out, out
    assert "batchsite.sqlite3" in out.split("var holds: ")[1]
    assert "postgres: open" in out and f"uid: {os.geteuid()}" in out
    for value in worker_secrets.values():
        assert value in out


def test_without_bubblewrap_the_local_backend_refuses_calls(project, alice, sandbox_config):
    sandbox_config('bwrap = "/nonexistent/bwrap"')
    run, call = run_task(project, alice, "echo ran > ran.txt")

    assert run.status == "Failed"
    assert "bubblewrap is not installed" in call.failure
    assert "backend.providers.Local.config.sandbox.trusted-single-user = true" in call.failure
    assert not call.backend_job_id and not (Path(call.call_dir) / "execution" / "launch").exists()


def test_a_task_reads_its_file_inputs_but_cannot_write_them(project, alice, tmp_path):
    data = tmp_path / "data" / "input.txt"
    data.parent.mkdir()
    data.write_text("input text\n")
    data.chmod(0o644)
    (data.parent / "neighbour.txt").write_text("not an input\n")
    command = """
cat ~{f}
echo changed >> ~{f} 2>/dev/null && echo 'input: written' || echo 'input: read-only'
[ -e "$(dirname ~{f})/neighbour.txt" ] && echo 'neighbour: present' || echo 'neighbour: absent'
"""
    run, call = run_task(project, alice, command, declarations="input { File f }", inputs={"wf.t.f": str(data)})

    assert run.status == "Succeeded", call.failure
    assert stdout_of(call).splitlines() == ["input text", "input: read-only", "neighbour: absent"]
    assert data.read_text() == "input text\n"


def test_a_file_input_naming_batchsites_own_files_is_refused_at_submission(project, alice, database_file):
    # The local backend refuses such a job too; the submission does first (tests/workflows/test_input_files.py).
    with pytest.raises(ValidationError) as refused:
        run_task(project, alice, "cat ~{f}", declarations="input { File f }", inputs={"wf.t.f": str(database_file)})

    assert f"wf.t.f: {database_file} is one of Batchsite's own files" in refused.value.message_dict["inputs"][0]
    assert not Call.objects.exists()


@pytest.mark.parametrize("command, outputs, problem", [
    ("ln -s /etc/shadow out.txt", 'File f = "out.txt"', "outside the call's working directory"),
    ("ln -s {database} out.txt", 'File f = "out.txt"', "outside the call's working directory"),
    ("ln -s {database} out.txt", 'String s = read_string("out.txt")', "outside the call's working directory"),
    ("mkdir d && ln -s / d/host", 'Directory d = "d"', "holds a link out of it: host"),
    ("mkdir d && ln -s {database} d/db", 'Directory d = "d"', "unusable symlink"),
    ("rm stdout && ln -s {database} stdout", "String s = read_string(stdout())", "stdout is a link"),
])
def test_an_output_that_links_to_a_host_file_is_an_error_not_the_file(project, alice, database_file,
                                                                         command, outputs, problem):
    version = "development" if "Directory" in outputs else "1.0"  # miniwdl 1.16 has Directory there
    run, call = run_task(project, alice, command.format(database=database_file), outputs=outputs, version=version)

    assert run.status == "Failed"
    assert problem in call.failure and "could not collect outputs" in call.failure
    assert "password-hash" not in call.failure and not call.outputs


def test_a_log_replaced_by_a_link_shows_nothing_of_the_host(project, alice, database_file):
    run, call = run_task(project, alice, f"echo start; rm stdout stderr; ln -s {database_file} stdout; "
                                         "ln -s /etc/shadow stderr")

    assert run.status == "Succeeded", call.failure
    for stream in ("stdout", "stderr"):
        chunk = selectors.call_log_read(call=call, stream=stream)
        assert chunk.text == "" and "password-hash" not in "".join(selectors.call_log_iter(call=call, stream=stream))
    with pytest.raises(OSError, match="is a link"):
        backend_for(call.backend).read_text(str(Path(call.call_dir) / "execution" / "stdout"))


def test_an_output_is_read_only_through_real_directories_of_the_call(project, alice, database_file):
    run, call = run_task(project, alice, f"mkdir -p out && echo kept > out/a.txt && ln -s {database_file.parent} var")
    backend = backend_for(call.backend)
    execution = Path(call.call_dir) / "execution"

    assert backend.read_text(str(execution / "out" / "a.txt")) == "kept\n"
    with pytest.raises(OSError, match="var is not a directory of the call"):
        backend.read_text(str(execution / "var" / database_file.name))
    with pytest.raises(OSError, match="not under the Local backend's root"):
        backend.read_text(str(database_file))


def test_a_task_cannot_forge_its_launch_file_or_rc_or_replace_its_script(project, alice):
    command = """
echo 1 > launch 2>/dev/null && echo 'launch: written' || echo 'launch: kept'
rm -f script 2>/dev/null; [ -e script ] && echo 'script: kept' || echo 'script: removed'
echo 0 > rc 2>/dev/null && echo 'rc: written' || echo 'rc: kept'
mkdir rc.tmp
exit 4
"""
    run, call = run_task(project, alice, command)

    assert run.status == "Failed" and call.return_code == 4
    assert stdout_of(call).splitlines() == ["launch: kept", "script: kept", "rc: kept"]


@pytest.mark.skipif(not sandbox.privileged(), reason="the launcher is used only by a worker running as root")
def test_a_runs_calls_start_under_its_launcher_which_reports_nothing_wrong(project, alice):
    assert sandbox.launcher_binary(), "the launcher is not built from launcher.c as it is: run `make launcher`"
    run, call = run_task(project, alice, "echo started")

    assert run.status == "Succeeded" and stdout_of(call) == "started\n"
    run_dir = backend_for("Local")._run_dir(call.call_dir)
    assert (Path(run_dir) / "launcher.log").read_text() == ""


def test_memory_bounds_what_the_command_may_allocate(project, alice):
    allocate = "python3 -c 'b = bytearray(300 * 1024 * 1024)' && echo allocated"
    small, call = run_task(project, alice, allocate, runtime='memory: "100 MB"')
    assert small.status == "Failed" and "MemoryError" in call.failure

    large, call = run_task(project, alice, allocate, runtime='memory: "2 GB"')
    assert large.status == "Succeeded" and stdout_of(call) == "allocated\n"


def test_read_only_paths_are_readable_and_a_missing_one_refuses_calls(project, alice, tmp_path, sandbox_config):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "tool.sh").write_text("echo tool ran\n")
    sandbox_config(f'read-only-paths = ["{tools}"]')
    run, call = run_task(project, alice, f"bash {tools}/tool.sh; touch {tools}/new 2>/dev/null || echo read-only")
    assert run.status == "Succeeded", call.failure
    assert stdout_of(call) == "tool ran\nread-only\n"

    sandbox_config(f'read-only-paths = ["{tmp_path}/missing"]')
    run, call = run_task(project, alice, "true")
    assert run.status == "Failed" and f"{tmp_path}/missing" in call.failure


def test_the_network_is_there_only_when_the_provider_allows_it(project, alice, sandbox_config):
    sandbox_config("allow-network = true")
    run, call = run_task(project, alice, probe({}))

    assert run.status == "Succeeded", call.failure
    assert "postgres: open" in stdout_of(call) and "uid: 65534" in stdout_of(call)


def test_abort_kills_the_whole_process_tree_of_a_sandboxed_task(project, alice):
    token = f"{secrets.randbelow(9000) + 1000}.{secrets.randbelow(900) + 100}"
    command = f"sleep {token} & setsid sleep {token} & (sleep {token} &); sleep {token}"
    wdl = f"version 1.0\nworkflow wf {{ call t }}\ntask t {{ command <<< {command} >>> }}\n"
    with Eager():
        run = drive(submit(project, alice, wdl, name="sleepers"), until=lambda r: len(_sleepers(token)) == 4)
        assert run_abort(run=run, user=alice)
        run = drive(run, timeout=10)
    assert run.status == "Aborted"
    deadline = time.monotonic() + 10
    while _sleepers(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers(token) == []


def test_a_process_a_task_leaves_behind_ends_with_it(project, alice):
    token = f"{secrets.randbelow(9000) + 1000}.{secrets.randbelow(900) + 100}"
    run, call = run_task(project, alice, f"setsid sleep {token} & (sleep {token} &); echo done")

    assert run.status == "Succeeded" and stdout_of(call) == "done\n"
    deadline = time.monotonic() + 10
    while _sleepers(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sleepers(token) == []


def _sleepers(token: str) -> list[int]:
    """Return the live processes running `sleep <token>` on this host."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            alive = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
            if alive and (proc / "cmdline").read_bytes() == f"sleep\0{token}\0".encode():
                pids.append(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


@pytest.mark.parametrize("block, problem", [
    ("trusted-single-user = yes", "sandbox.trusted-single-user: expected true or false"),
    ('allow-network = "true"', "sandbox.allow-network: expected true or false"),
    ('read-only-paths = ["opt/tools"]', "sandbox.read-only-paths: expected a list of absolute paths"),
    ("no-such-key = 1", "sandbox.no-such-key: unknown key"),
])
def test_a_bad_sandbox_block_is_a_config_error_naming_the_key(block, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_config_text(CONFIG % block, base_dir="/")


def test_the_default_config_sandboxes_local_calls_without_network():
    box = parse_config_text('include required(classpath("application"))', base_dir="/").provider("Local").sandbox
    assert (box.bwrap, box.allow_network, box.trusted_single_user, box.read_only_paths) == ("bwrap", False, False, ())
