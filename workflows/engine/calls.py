"""Evaluate one task call: its command and runtime before it runs, its outputs after.

prepare() and collect() may run in different processes: only JSON passes between them.
No container engine is involved: the command runs in work_dir, on the host or in a backend's job.
"""
import dataclasses
import math
import os
from typing import Callable, Iterable

import WDL
from WDL import Env, Error, Tree, Value
from WDL._util import byte_size_units, path_really_within
from WDL.runtime import error as runtime_error
from WDL.runtime._io_helpers import _fspaths
from WDL.runtime._stdlib import TaskOutputStdLib, TaskStdLib
from WDL.runtime.task import _eval_task_decl, _postprocess_task_output_decl_paths
from WDL.runtime.task import _task_output_host_path

from .bounds import bound_collections
from .config import is_uri, logger, miniwdl_config
from .documents import Document, decl_type
from .errors import EvalError, OutputError
from .stdlib import apply_spec_fixes

# File values that stdout(), stderr() and glob() produce name this directory, which exists nowhere;
# _CallDir.host_path maps them to the real files.
VIRTUAL_DIR = "/.batchsite-call"


@dataclasses.dataclass(frozen=True)
class PreparedTask:
    command: str  # the evaluated command text, to run with bash in work_dir
    runtime: dict  # evaluated runtime attributes as JSON (see _runtime_json)
    inputs: dict  # every input and private declaration as JSON, with host paths: pass it to collect()
    written: tuple[str, ...]  # local files write_*() created for the command; a remote backend ships them


def prepare(doc: Document, task: str, inputs: dict, *, work_dir: str,
            map_path: Callable[[str], str] | None = None, localize: Callable[[str], str] | None = None,
            max_items: int | None = None, readable: Callable[[str], None] | None = None) -> PreparedTask:
    """Evaluate a task's declarations, runtime and command for inputs; raise EvalError.

    max_items bounds what range() and cross() may build (the run's call limit); readable(path)
    raises OSError for a host file the run may not read, asked as read_*() opens it.
    """
    tree = doc.task(task)
    call_dir = _CallDir(work_dir, map_path, readable=readable)
    try:
        env = _evaluate_declarations(tree, call_dir, inputs, localize, max_items)
        stdlib = _TaskInputStdLib(tree, call_dir, localize, max_items)
        runtime = _runtime_json({key: expr.eval(env, stdlib) for key, expr in tree.runtime.items()})
        command = tree.command.eval(env, stdlib, dedent=True).value
    except (Error.RuntimeError, ValueError, OSError) as exn:
        raise _eval_error(exn, tree) from exn
    written = tuple(path for path in call_dir.input_path_map if path.startswith(call_dir.write_dir + "/"))
    return PreparedTask(command=command, runtime=runtime, inputs=call_dir.host_json(env), written=written)


def collect(doc: Document, task: str, inputs: dict, *, work_dir: str, stdout: str, stderr: str,
            map_path: Callable[[str], str] | None = None, localize: Callable[[str], str] | None = None,
            readable: Callable[[str], None] | None = None) -> dict:
    """Evaluate a task's outputs after its command ran; raise OutputError naming the output.

    inputs should be PreparedTask.inputs: declarations missing from it are evaluated again.
    """
    tree = doc.task(task)
    call_dir = _CallDir(work_dir, map_path, stdout=stdout, stderr=stderr, readable=readable)
    try:
        env = _evaluate_declarations(tree, call_dir, inputs, localize)
    except (Error.RuntimeError, ValueError, OSError) as exn:
        raise _eval_error(exn, tree) from exn
    stdlib = _TaskOutputStdLib(tree, call_dir, localize)
    outputs: Env.Bindings[Value.Base] = Env.Bindings()
    for decl in _evaluation_order(tree.outputs):
        try:
            value = _eval_task_decl(logger, decl, env, stdlib, lambda v, decl=decl:
                                    _postprocess_task_output_decl_paths(logger, decl, v, call_dir))
            host_value = Value.rewrite_paths(value, lambda v, decl=decl:
                                             _task_output_host_path(logger, decl.name, v, call_dir))
            Value.rewrite_paths(host_value, lambda v, decl=decl: call_dir.check_links(decl.name, v))
        except (Error.RuntimeError, ValueError, OSError) as exn:
            raise OutputError(decl.name, _message(exn)) from exn
        env = env.bind(decl.name, value)  # later outputs may use it, with the paths the task saw
        outputs = outputs.bind(decl.name, Value.rewrite_paths(host_value, lambda v: call_dir.output_path(v.value)))
    return WDL.values_to_json(outputs)


def return_code_ok(runtime: dict, rc: int) -> bool:
    """Tell whether exit code rc counts as success under the call's continueOnReturnCode."""
    accepted = runtime.get("continueOnReturnCode", False)
    if accepted is True or accepted is False:
        return accepted or rc == 0
    if isinstance(accepted, int):
        return rc == accepted  # Cromwell: an int names the only good code; 0 is not implied
    return rc in accepted


class _CallDir:
    """A call's working directory, shaped like the miniwdl TaskContainer its task stdlib expects.

    input_path_map maps host paths (local, or URIs like s3://...) to what the command sees:
    map_path(host), the identity for a command that runs on this host.
    """

    container_dir = VIRTUAL_DIR

    def __init__(self, work_dir: str, map_path: Callable[[str], str] | None,
                 stdout: str | None = None, stderr: str | None = None,
                 readable: Callable[[str], None] | None = None) -> None:
        self.cfg = miniwdl_config()
        self.readable = readable or (lambda path: None)
        self.work_dir = os.path.abspath(work_dir)
        self.host_dir = self.work_dir  # miniwdl's stdlib writes write_*() files under host_dir/write_
        self.write_dir = os.path.join(self.work_dir, "write_")
        self.map_path = map_path or (lambda path: path)
        self.stdout = os.path.abspath(stdout) if stdout else None
        self.stderr = os.path.abspath(stderr) if stderr else None
        self.input_path_map: dict[str, str] = {}
        self.input_path_map_rev: dict[str, str] = {}
        os.makedirs(self.work_dir, exist_ok=True)

    def host_work_dir(self) -> str:
        return self.work_dir

    def add_paths(self, host_paths: Iterable[str]) -> None:
        for host in host_paths:
            if host not in self.input_path_map:
                seen = self.map_path(host.rstrip("/")) + ("/" if host.endswith("/") else "")
                self.input_path_map[host] = seen
                self.input_path_map_rev[seen] = host

    def host_path(self, path: str, inputs_only: bool = False) -> str | None:
        """Map a File value the task sees to a host path, or None when it does not exist."""
        directory = path.endswith("/")
        if path in (f"{VIRTUAL_DIR}/stdout.txt", f"{VIRTUAL_DIR}/stderr.txt"):
            host = self.stdout if path.endswith("/stdout.txt") else self.stderr
            if host and os.path.islink(host):  # the command replaced its log with a link to a host file
                raise runtime_error.OutputError(f"{os.path.basename(host)} is a link, not the command's output")
            return host if host and os.path.isfile(host) else None
        host = self._input_host(path)
        if host is not None:
            if is_uri(host):
                return host
            return host if (os.path.isdir(host) if directory else os.path.isfile(host)) else None
        if inputs_only:
            raise Error.InputError("task inputs attempted to use a non-input or non-existent path " + path)
        relative = path
        if os.path.isabs(path):
            relative = next((path[len(base) + 1:] for base in (f"{VIRTUAL_DIR}/work", self.work_dir)
                             if path.startswith(base + "/")), None)
            if relative is None:
                raise runtime_error.OutputError(f"{path} is outside the call's working directory")
        host = os.path.join(self.work_dir, relative)
        if not (os.path.isdir(host) if directory else os.path.isfile(host)):
            return None
        if not path_really_within(host, self.work_dir):
            raise runtime_error.OutputError(f"{path} is outside the call's working directory")
        return host

    def check_links(self, output: str, value: Value.File | Value.Directory) -> str:
        """Refuse a produced Directory holding a link (to a file or a directory) that leads out of it."""
        top = value.value
        if isinstance(value, Value.Directory) and top.startswith(self.work_dir + "/"):
            for folder, dirs, files in os.walk(top):
                for name in dirs + files:
                    path = os.path.join(folder, name)
                    if os.path.islink(path) and not path_really_within(path, top):
                        raise runtime_error.OutputError(
                            f"Directory in output {output} holds a link out of it: {os.path.relpath(path, top)}")
        return top

    def _input_host(self, path: str) -> str | None:
        if path in self.input_path_map_rev:
            return self.input_path_map_rev[path]
        for seen, host in self.input_path_map_rev.items():
            if seen.endswith("/") and path.startswith(seen):  # a file inside an input Directory
                return host + path[len(seen):]
        return None

    def bind_inputs(self, values: Env.Bindings[Value.Base]) -> Env.Bindings[Value.Base]:
        """Register the host paths in values and return values as the command sees them."""
        self.add_paths(_fspaths(values))
        return _rewrite_paths(values, self.input_path_map)

    def host_json(self, env: Env.Bindings[Value.Base]) -> dict:
        """Return env as JSON with host paths, the form collect() takes back."""
        return WDL.values_to_json(_rewrite_paths(env, self.input_path_map_rev))

    def output_path(self, host: str) -> str:
        """Map a produced output path (in work_dir, or stdout/stderr) through map_path; leave inputs alone."""
        produced = host in (self.stdout, self.stderr) or host.startswith(self.work_dir + "/")
        return self.map_path(host) if produced else host


def _rewrite_paths(values: Env.Bindings[Value.Base], paths: dict[str, str]) -> Env.Bindings[Value.Base]:
    def rewrite(value: Value.File | Value.Directory) -> str:
        if isinstance(value, Value.Directory):  # miniwdl keys Directory paths with a trailing slash
            key = value.value.rstrip("/") + "/"
            return paths.get(key, key).rstrip("/")
        return paths.get(value.value, value.value)
    return Value.rewrite_env_paths(values, rewrite)


def _evaluate_declarations(task: Tree.Task, call_dir: _CallDir, inputs: dict, localize: Callable[[str], str] | None,
                           max_items: int | None = None) -> Env.Bindings[Value.Base]:
    """Bind inputs JSON (host paths) and evaluate the declarations it does not already hold."""
    decls = {decl.name: decl for decl in (task.inputs or []) + task.postinputs}
    values: Env.Bindings[Value.Base] = Env.Bindings()
    for name, data in inputs.items():
        if name not in decls:
            raise ValueError(f"task {task.name} has no input or declaration named {name}")
        value = Value.from_json(decl_type(decls[name]), data)
        if isinstance(value, Value.Null) and decls[name].expr is not None and not decls[name].type.optional:
            continue  # null for a defaulted, non-optional input means: use the default (as miniwdl does)
        values = values.bind(name, value)
    env = call_dir.bind_inputs(values)
    pending = [decl for decl in decls.values() if not env.has_binding(decl.name)]
    if not pending:
        return env  # a standard library costs a millisecond to build: skip it when nothing needs it
    stdlib = _TaskInputStdLib(task, call_dir, localize, max_items)
    for decl in _evaluation_order(pending):
        value = decl.expr.eval(env, stdlib=stdlib).coerce(decl.type) if decl.expr is not None else Value.Null()
        env = env.bind(decl.name, value)
    return env


def _evaluation_order(decls: list[Tree.Decl]) -> list[Tree.Decl]:
    """Order declarations after those they use, otherwise as written (so errors are reproducible)."""
    pending = list(decls)
    unevaluated = {decl.workflow_node_id for decl in decls}
    ordered = []
    while pending:
        # typechecking has ruled out cycles, so some pending declaration is always ready
        ready = next(decl for decl in pending
                     if not set(decl.workflow_node_dependencies) & (unevaluated - {decl.workflow_node_id}))
        pending.remove(ready)
        unevaluated.discard(ready.workflow_node_id)
        ordered.append(ready)
    return ordered


class _TaskInputStdLib(TaskStdLib):
    """Task stdlib for declarations, runtime and command: reads only inputs, fetches URIs with localize."""

    def __init__(self, task: Tree.Task, call_dir: _CallDir, localize: Callable[[str], str] | None,
                 max_items: int | None = None) -> None:
        super().__init__(task.effective_wdl_version, logger, call_dir, inputs_only=True)  # type: ignore[arg-type]
        self._localize = localize
        if max_items is not None:
            bound_collections(self, max_items)
        apply_spec_fixes(self)

    def _devirtualize_filename(self, filename: str) -> str:
        path = super()._devirtualize_filename(filename)
        if not is_uri(path):
            self.container.readable(path)
        return _local(path, self._localize)


class _TaskOutputStdLib(TaskOutputStdLib):
    """Task stdlib for outputs: stdout(), stderr(), glob() and files in work_dir.

    Every file read_*() opens goes through localize, which fetches an output the workspace holds
    only a stand-in of (a big file in S3); size() reads the stand-in's size without fetching.
    """

    def __init__(self, task: Tree.Task, call_dir: _CallDir, localize: Callable[[str], str] | None) -> None:
        super().__init__(task.effective_wdl_version, logger, call_dir)  # type: ignore[arg-type]
        self._localize = localize
        apply_spec_fixes(self)
        self._sizing = False
        self.size = _Size(self)

    def _devirtualize_filename(self, filename: str) -> str:
        path = super()._devirtualize_filename(filename)
        if not is_uri(path):
            self.container.readable(path)
        if self._sizing and not is_uri(path):
            return path  # a stand-in has the size of the output it stands in for
        return self._localize(path) if self._localize else _local(path, None)


class _Size(WDL.StdLib._Size):
    """size() that stats stand-ins rather than fetching the files they stand in for."""

    def _call_eager(self, expr, arguments):
        self.stdlib._sizing = True
        try:
            return super()._call_eager(expr, arguments)
        finally:
            self.stdlib._sizing = False


def _local(path: str, localize: Callable[[str], str] | None) -> str:
    if not is_uri(path):
        return path
    if localize is None:
        raise OSError(f"cannot read {path}: this engine was given no way to fetch remote files")
    return localize(path)


def _runtime_json(values: dict[str, Value.Base]) -> dict:
    """Normalise evaluated runtime attributes; unknown attributes are kept as their JSON."""
    runtime = {}
    for key, value in values.items():
        data = value.json
        try:
            if key in ("docker", "container"):
                runtime["docker"] = (data[0] if data else None) if isinstance(data, list) else data
            elif key == "cpu":
                runtime["cpu"] = max(1, math.ceil(float(data)))
            elif key == "memory":
                runtime["memory"] = _bytes(data)
            elif key in ("maxRetries", "preemptible"):
                runtime[key] = max(0, int(data))
            elif key == "continueOnReturnCode":
                runtime.setdefault(key, _return_codes(data))
            elif key in ("returnCodes", "return_codes"):  # WDL 1.1; like Cromwell, wins over continueOnReturnCode
                runtime["continueOnReturnCode"] = True if data == "*" else _return_codes(data)
            elif key == "failOnStderr":
                runtime[key] = _boolean(data)
            else:
                runtime[key] = data
        except (TypeError, ValueError, IndexError) as exn:
            raise ValueError(f"runtime attribute {key} has an unusable value {data!r}: {exn}") from None
    return runtime


def _bytes(data) -> int:
    if isinstance(data, (int, float)):
        return int(data)
    text = str(data).strip()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ")
    unit = text[len(number):].strip()
    units = {name.lower(): size for name, size in byte_size_units.items()}
    if unit.lower() not in units and unit:
        raise ValueError(f"unknown unit {unit}")
    return int(float(number) * units.get(unit.lower(), 1))


def _return_codes(data) -> bool | int | list[int]:
    if isinstance(data, bool):
        return data
    if isinstance(data, str) and data.lower() in ("true", "false"):
        return data.lower() == "true"
    if isinstance(data, list):
        return [int(code) for code in data]
    return int(data)


def _boolean(data) -> bool:
    if isinstance(data, str):
        return data.strip().lower() == "true"
    return bool(data)


def _message(exn: Exception) -> str:
    return str(exn) or type(exn).__name__


def _eval_error(exn: Exception, task: Tree.Task) -> EvalError:
    pos = getattr(exn, "pos", None)
    return EvalError(_message(exn), where=f"task {task.name}",
                     uri=os.path.basename(pos.uri) if pos else None,
                     line=pos.line if pos else None, column=pos.column if pos else None)
