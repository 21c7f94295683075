"""A tiny synchronous driver for engine tests: runs every call with bash on this host.

It uses only the engine's public API, the way the real scheduler does: start, advance with each
batch of finished calls, and dumps/loads the state between batches to prove a run survives it.
Layout: <tmpdir>/run/<call id>/attempt-<n>/{script.sh,stdout,stderr,work/}.
"""
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from workflows import engine


class CallFailed(Exception):
    def __init__(self, call: engine.TaskCall, rc: int | None, error: str) -> None:
        super().__init__(error)
        self.call = call
        self.rc = rc
        self.error = error


def run_workflow(doc: engine.Document, inputs: dict, tmpdir) -> tuple[str, dict]:
    """Run doc on inputs; return ("Succeeded", outputs) or ("Failed", {"failed_call", "rc", "error"})."""
    run_dir = os.path.join(str(tmpdir), "run")
    try:
        state = engine.EngineState.start(doc, inputs, run_dir=run_dir)
        calls = state.advance()
        saved = state.dumps()
        with ThreadPoolExecutor(max_workers=4) as pool:
            while calls:
                finished = list(pool.map(lambda call: (call.id, run_call(doc, call, run_dir)), calls))
                state = engine.EngineState.loads(doc, saved)
                calls = state.advance(finished)
                saved = state.dumps()
    except CallFailed as failure:
        return "Failed", {"failed_call": failure.call.fqn, "rc": failure.rc, "error": failure.error}
    except engine.EvalError as exn:
        return "Failed", {"failed_call": None, "rc": None, "error": str(exn)}
    assert state.done, "no calls left to run, yet the workflow is not done"
    return "Succeeded", state.outputs


def run_call(doc: engine.Document, call: engine.TaskCall, run_dir: str) -> dict:
    """Run one call, retrying up to maxRetries; return its outputs JSON or raise CallFailed."""
    attempt = 1
    while True:
        call_dir = os.path.join(run_dir, call.id, f"attempt-{attempt}")
        work_dir = os.path.join(call_dir, "work")
        try:
            prepared = engine.prepare(doc, call.task, call.inputs, work_dir=work_dir)
        except engine.EvalError as exn:
            raise CallFailed(call, None, str(exn)) from None
        rc, stdout, stderr = _run_command(prepared.command, call_dir, work_dir)
        if not engine.return_code_ok(prepared.runtime, rc):
            error = f"exit code {rc}"
        elif prepared.runtime.get("failOnStderr") and os.path.getsize(stderr) > 0:
            error = "failOnStderr: the command wrote to stderr"
        else:
            try:
                return engine.collect(doc, call.task, prepared.inputs, work_dir=work_dir,
                                      stdout=stdout, stderr=stderr)
            except engine.OutputError as exn:
                raise CallFailed(call, rc, str(exn)) from None
        if attempt > prepared.runtime.get("maxRetries", 0):
            raise CallFailed(call, rc, error)
        attempt += 1


def _run_command(command: str, call_dir: str, work_dir: str) -> tuple[int, str, str]:
    script = os.path.join(call_dir, "script.sh")
    stdout = os.path.join(call_dir, "stdout")
    stderr = os.path.join(call_dir, "stderr")
    with open(script, "w") as f:
        f.write("#!/bin/bash\n" + command)
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        rc = subprocess.run(["bash", script], cwd=work_dir, stdout=out, stderr=err,
                            stdin=subprocess.DEVNULL).returncode
    return rc, stdout, stderr
