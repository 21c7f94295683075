"""A run's workflow state: miniwdl's state machines, stepped in batches and saved between batches."""
import collections
import dataclasses
import importlib.metadata
import os
import pickle
from typing import Callable, Iterable

import WDL
from WDL import Error, Expr, Tree
from WDL.runtime._stdlib import WorkflowStdLib
from WDL.runtime._workflow_state import StateMachine

from .bounds import bound_collections, over_calls
from .config import LOGGER_NAME, call_cache, is_uri, miniwdl_config
from .documents import Document
from .errors import EvalError, LimitError
from .stdlib import apply_spec_fixes

# Bump when the pickled layout changes; a saved state of another format cannot be resumed.
STATE_FORMAT = 1
# The pickle holds miniwdl's own objects: only the miniwdl version that saved a state can resume it.
MINIWDL_VERSION = importlib.metadata.version("miniwdl")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one run may use; None is unbounded (engine tests; the services always pass a team's limits)."""

    max_calls: int | None = None  # calls across scatters and subworkflows; also bounds range() and cross()
    max_state_bytes: int | None = None  # the saved state, as dumps() returns it


@dataclasses.dataclass(frozen=True)
class TaskCall:
    """One task to run: what the scheduler stores as a call row and a backend runs."""

    id: str  # unique in the run and deterministic: "call-hello-2", "call-sub/call-inner-2"
    fqn: str  # Cromwell's name: "<workflow name>.<call name>", the workflow being the one the call is in
    name: str  # the call name ("hello", or its alias)
    shard_index: int  # -1 unless scattered; the innermost scatter index within the call's own workflow
    task: str  # reference for prepare/collect: import namespaces then task name ("lib.hello")
    inputs: dict  # the call's input values as JSON, keyed by input name


@dataclasses.dataclass(frozen=True)
class SubworkflowCall:
    """A call of a workflow that started (outputs None) or finished (its outputs) in one advance()."""

    id: str  # the call id path, as its task calls' ids begin: "call-sub-2"
    fqn: str  # "<calling workflow name>.<call name>"
    name: str  # the called workflow's name
    shard_index: int
    inputs: dict  # JSON, keyed by input name
    outputs: dict | None = None  # JSON, keyed by output name, once it finished


class EngineState:
    """The saved state of one run; advance() feeds it finished calls and returns the new ones."""

    def __init__(self, doc: Document, data: dict, localize: Callable[[str], str] | None,
                 publish: Callable[[str], str] | None, limits: Limits,
                 readable: Callable[[str], None] | None = None) -> None:
        self._doc = doc
        # "" is the run's own workflow; a subworkflow's machine is keyed by its call's id path
        self._machines: dict[str, StateMachine] = data["machines"]
        self._namespaces: dict[str, list[str]] = data["namespaces"]
        self._task: dict | None = data["task"]  # a task-only document's single call
        self._outputs: dict | None = data["outputs"]
        self._localize = localize
        self._publish = publish
        self._readable = readable
        self._limits = limits
        self._stdlibs: dict[str, WorkflowStdLib] = {}
        self.subworkflows: list[SubworkflowCall] = []  # started and finished by the last advance()
        if "calls" not in data:  # saved before calls were counted: count those of the live machines
            data["calls"] = sum(isinstance(job.node, Tree.Call) for machine in self._machines.values()
                                for job in machine.jobs.values())
        self._budget = _Budget(limits.max_calls, data["calls"])
        for machine in self._machines.values():
            if type(machine) is StateMachine:  # saved before calls were counted
                machine.__class__ = _Machine
            machine.budget = self._budget

    @classmethod
    def start(cls, doc: Document, inputs: dict, *, run_dir: str, localize: Callable[[str], str] | None = None,
              publish: Callable[[str], str] | None = None, limits: Limits = Limits(),
              readable: Callable[[str], None] | None = None) -> "EngineState":
        """Start a run of doc on inputs JSON; run_dir receives files that workflow expressions write.

        localize(uri) returns a local copy of a remote file an expression reads; publish(path)
        returns where calls will find a file an expression wrote (by default, where it is);
        readable(path) raises OSError for a host file the run may not read, asked as it is opened.
        Raises LimitError when the workflow's first calls are already over limits.max_calls.
        """
        values = doc.input_values(inputs)
        data = {"machines": {}, "namespaces": {}, "task": None, "outputs": None, "calls": 0}
        state = cls(doc, data, localize, publish, limits, readable)
        if doc.is_task:
            state._task = {"inputs": WDL.values_to_json(values), "issued": False}
        else:
            state._machines[""] = _Machine(state._budget, LOGGER_NAME, run_dir, doc.executable, values)
            state._namespaces[""] = []
        return state

    @classmethod
    def loads(cls, doc: Document, data: bytes, *, localize: Callable[[str], str] | None = None,
              publish: Callable[[str], str] | None = None, limits: Limits = Limits(),
              readable: Callable[[str], None] | None = None) -> "EngineState":
        """Resume a state saved by dumps(); doc must be the same WDL it was started with."""
        saved = pickle.loads(data)  # trusted: written by dumps() into the run's own row
        saved_by = (saved.get("format"), saved.get("miniwdl"))
        if saved_by != (STATE_FORMAT, MINIWDL_VERSION):
            raise ValueError(f"the engine state was saved as format {saved_by[0]} by miniwdl {saved_by[1]}; "
                             f"this is format {STATE_FORMAT} with miniwdl {MINIWDL_VERSION}")
        return cls(doc, saved, localize, publish, limits, readable)

    def dumps(self) -> bytes:
        """Serialise the state; call once per batch of finished calls, not once per call.

        Raises LimitError when the state is larger than limits.max_state_bytes.
        """
        for machine in self._machines.values():
            # StateMachine.__getstate__ deletes _logger, which an unpickled machine lacks until this
            machine.logger  # noqa: B018
        data = pickle.dumps({"format": STATE_FORMAT, "miniwdl": MINIWDL_VERSION, "machines": self._machines,
                             "namespaces": self._namespaces, "task": self._task, "outputs": self._outputs,
                             "calls": self._budget.calls}, protocol=pickle.HIGHEST_PROTOCOL)
        limit = self._limits.max_state_bytes
        if limit is not None and len(data) > limit:
            raise LimitError("max_engine_state_bytes",
                             f"the run's saved workflow state would be {len(data):,} bytes, over its team's limit "
                             f"max_engine_state_bytes of {limit:,} bytes (large arrays in inputs, call inputs or "
                             f"outputs make it grow)")
        return data

    @property
    def calls(self) -> int:
        """Return how many calls the run's workflow has scheduled so far (subworkflow calls included)."""
        return self._budget.calls

    @property
    def done(self) -> bool:
        """Tell whether the run has finished (every call, every output)."""
        return self._outputs is not None

    @property
    def outputs(self) -> dict:
        """Return the run's outputs in Cromwell form, {"wf.out": value}, once done."""
        if self._outputs is None:
            raise ValueError("the run has not finished")
        return self._outputs

    def advance(self, finished: Iterable[tuple[str, dict]] = ()) -> list[TaskCall]:
        """Feed finished calls (id, outputs JSON) and return the task calls that became ready."""
        self.subworkflows = []
        for call_id, outputs in finished:
            self._finish(call_id, outputs)
        if self._task is not None:
            return self._advance_task()
        calls = self._step()
        top = self._machines[""]
        if self._outputs is None and top.outputs is not None:
            self._outputs = WDL.values_to_json(top.outputs, namespace=self._doc.name)
        return calls

    def _advance_task(self) -> list[TaskCall]:
        if self._task["issued"]:
            return []
        self._task["issued"] = True
        name = self._doc.name
        return [TaskCall(id=f"call-{name}", fqn=name, name=name, shard_index=-1, task=name,
                         inputs=self._task["inputs"])]

    def _finish(self, call_id: str, outputs: dict) -> None:
        if self._task is not None:
            if call_id != f"call-{self._doc.name}":
                raise ValueError(f"unknown call {call_id}")
            if self._outputs is None:
                values = _output_values(call_id, self._doc.executable, outputs)
                self._outputs = WDL.values_to_json(values, namespace=self._doc.name)
            return
        if self._is_finished(call_id):
            return  # a call may be delivered twice
        key, _, job_id = call_id.rpartition("/")
        machine = self._machines.get(key)
        if machine is None or job_id not in machine.running:
            raise ValueError(f"unknown call {call_id}")
        callee = machine.jobs[job_id].node.callee
        if not isinstance(callee, Tree.Task):
            raise ValueError(f"{call_id} is a subworkflow call: the engine finishes it itself")
        machine.call_finished(job_id, _output_values(call_id, callee, outputs))

    def _is_finished(self, call_id: str) -> bool:
        key, _, job_id = call_id.rpartition("/")
        machine = self._machines.get(key)
        if machine is not None:
            return job_id in machine.finished
        # a finished subworkflow's machine is dropped once its parent has its outputs
        return bool(key) and self._is_finished(key)

    def _step(self) -> list[TaskCall]:
        calls = []
        pending = collections.deque(sorted(self._machines))  # first in, first out: calls come in source order
        while pending:
            key = pending.popleft()
            machine = self._machines.get(key)
            if machine is None:
                continue
            while (instructions := self._step_machine(key, machine)) is not None:
                if isinstance(instructions.callee, Tree.Task):
                    calls.append(self._task_call(key, machine, instructions))
                else:
                    pending.append(self._start_subworkflow(key, machine, instructions))
            if key and machine.outputs is not None:
                self.subworkflows.append(dataclasses.replace(
                    self._subworkflow_call(key, machine), outputs=WDL.values_to_json(machine.outputs)))
                parent_key, _, job_id = key.rpartition("/")
                self._machines[parent_key].call_finished(job_id, machine.outputs)
                del self._machines[key], self._namespaces[key]
                self._stdlibs.pop(key, None)
                pending.append(parent_key)
        return calls

    def _step_machine(self, key: str, machine: StateMachine) -> StateMachine.CallInstructions | None:
        try:
            return machine.step(miniwdl_config(), self._stdlib(key, machine))
        except Error.RuntimeError as exn:
            job = getattr(exn, "job_id", "")
            pos = getattr(exn, "pos", None)
            raise EvalError(_unsupplied_message(str(exn)), where=f"{key}/{job}" if key else job,
                            uri=os.path.basename(pos.uri) if pos else None,
                            line=pos.line if pos else None, column=pos.column if pos else None) from exn

    def _stdlib(self, key: str, machine: StateMachine) -> WorkflowStdLib:
        # the stdlib holds the machine, so it is rebuilt for every machine after every load
        if key not in self._stdlibs:
            self._stdlibs[key] = _WorkflowStdLib(machine, self._localize, self._publish, self._limits.max_calls,
                                                 self._readable)
        return self._stdlibs[key]

    def _task_call(self, key: str, machine: StateMachine, instructions) -> TaskCall:
        job = machine.jobs[instructions.id]
        call = job.node
        # the scatter stack holds zero-padded indices ("07"): scatter tags are off in the config
        shard_index = int(job.scatter_stack[-1][0]) if job.scatter_stack else -1
        return TaskCall(
            id=f"{key}/{instructions.id}" if key else instructions.id,
            fqn=f"{machine.workflow.name}.{call.name}",
            name=call.name,
            shard_index=shard_index,
            task=".".join(self._namespaces[key] + call.callee_id),
            inputs=WDL.values_to_json(instructions.inputs),
        )

    def _start_subworkflow(self, key: str, machine: StateMachine, instructions) -> str:
        call = machine.jobs[instructions.id].node
        child_key = f"{key}/{instructions.id}" if key else instructions.id
        self._namespaces[child_key] = self._namespaces[key] + call.callee_id[:-1]
        self._machines[child_key] = _Machine(self._budget, LOGGER_NAME, os.path.join(machine.run_dir, instructions.id),
                                             instructions.callee, instructions.inputs)
        self.subworkflows.append(self._subworkflow_call(child_key, self._machines[child_key]))
        return child_key

    def _subworkflow_call(self, key: str, machine: StateMachine) -> SubworkflowCall:
        parent_key, _, job_id = key.rpartition("/")
        parent = self._machines[parent_key]
        job = parent.jobs[job_id]
        return SubworkflowCall(id=key, fqn=f"{parent.workflow.name}.{job.node.name}", name=machine.workflow.name,
                               shard_index=int(job.scatter_stack[-1][0]) if job.scatter_stack else -1,
                               inputs=WDL.values_to_json(machine.inputs))


class _StateMachine(StateMachine):
    """miniwdl's workflow state machine, with Cromwell's reading of File literals in declarations.

    A string literal in a workflow declaration may become a File (or Directory) value there or in
    any other declaration (`File f = "a.bam"`, `String p = "/x"` then `File g = p`): the value is
    kept as written, to compare, print or collect. It stays a value only: passed to a call or made
    a workflow output, it must still be a file the run was given or one of its calls produced (or a
    URI), since a task can read no other path of this host; nor may an expression read it
    (read_string("/etc/passwd") names a literal too).
    """

    values_only: frozenset[str] = frozenset()  # the literals allowed while a declaration is evaluated
    _literals: frozenset[str] | None = None

    def _do_job(self, cfg, stdlib, job):
        if not isinstance(job.node, Tree.Decl) or job.node.expr is None or job.node.name in self.inputs:
            return super()._do_job(cfg, stdlib, job)
        if self._literals is None:
            nodes = (self.workflow.inputs or []) + self.workflow.body + (self.workflow.outputs or [])
            self._literals = frozenset(_declaration_literals(nodes))
        literals = self._literals - self.fspath_allowlist
        self.fspath_allowlist |= literals
        self.values_only = literals
        try:
            return super()._do_job(cfg, stdlib, job)
        finally:
            self.fspath_allowlist -= literals
            del self.values_only


def _declaration_literals(nodes) -> set[str]:
    """Return the string literals of every declaration among nodes and inside their scatters and conditionals."""
    found = set()
    for node in nodes:
        if isinstance(node, Tree.Decl) and node.expr is not None:
            found |= _string_literals(node.expr)
        elif isinstance(node, (Tree.Scatter, Tree.Conditional)):
            found |= _declaration_literals(node.body)
    return found


def _string_literals(expr: Expr.Base) -> set[str]:
    """Return the texts of the placeholder-free string literals in expr, as File and Directory paths."""
    found = set()
    if isinstance(expr, Expr.String):
        literal = expr.literal
        if literal is not None:
            text = literal.value
            found |= {text, text.rstrip("/") + "/"}  # miniwdl keys a Directory with a trailing slash
    for child in expr.children:
        if isinstance(child, Expr.Base):
            found |= _string_literals(child)
    return found


def _unsupplied_message(message: str) -> str:
    """Say why a File the run was not given is refused, without miniwdl's advice to change its config."""
    marker = (" uses file/directory not expressly supplied with workflow inputs"
              " (to allow, set [file_io] allow_any_input = true): ")
    if marker not in message:
        return message
    where, path = message.split(marker, 1)
    return (f"{where} uses {path}, which is neither an input of the run nor an output of one of its calls: "
            "a task reads only those (a File given as a string literal in a workflow declaration is a value "
            "only; make it a workflow input to pass it to a call or an output)")


def _output_values(call_id: str, task: Tree.Task, outputs: dict) -> WDL.Env.Bindings:
    try:
        return WDL.values_from_json(outputs, task.effective_outputs, task.effective_outputs)
    except Error.InputError as exn:
        raise ValueError(f"outputs of {call_id} do not fit task {task.name}: {exn}") from None


class _WorkflowStdLib(WorkflowStdLib):
    """miniwdl's workflow stdlib, reading remote files (s3://...) through the caller's localize and
    handing the files write_*() made to its publish."""

    def __init__(self, machine: StateMachine, localize: Callable[[str], str] | None,
                 publish: Callable[[str], str] | None, max_items: int | None,
                 readable: Callable[[str], None] | None = None) -> None:
        super().__init__(miniwdl_config(), machine.workflow.effective_wdl_version, machine, call_cache())
        self._localize = localize
        self._publish = publish
        self._readable = readable
        if max_items is not None:
            bound_collections(self, max_items)  # miniwdl builds range(10**11) whole before a scatter sees it
        apply_spec_fixes(self)

    def _virtualize_filename(self, filename: str) -> str:
        path = super()._virtualize_filename(filename)
        return self._publish(path) if self._publish else path

    def _devirtualize_filename(self, filename: str) -> str:
        self._refuse_value_only(filename)
        if is_uri(filename):
            if self._localize is None:
                raise OSError(f"cannot read {filename}: this engine was given no way to fetch remote files")
            return self._localize(filename)
        path = super()._devirtualize_filename(filename)
        if self._readable is not None:
            self._readable(path)
        return path

    def _refuse_value_only(self, filename: str) -> None:
        if isinstance(self.state, _StateMachine) and filename in self.state.values_only and not is_uri(filename):
            raise Error.InputError(f"{filename} is a string literal, not a file the run was given or produced: "
                                   "a workflow expression cannot read it; make it a workflow input")

class _Budget:
    """Counts the calls a run's machines schedule, and the shards of the scatter being expanded."""

    def __init__(self, max_calls: int | None, calls: int) -> None:
        self.max_calls = max_calls
        self.calls = calls
        self.scatter: Tree.Scatter | None = None
        self.shards = 0

    def scheduled(self, node: Tree.WorkflowNode) -> None:
        if self.scatter is not None and self.scatter.body and node is self.scatter.body[0]:
            self.shards += 1
            if self.max_calls is not None and self.shards > self.max_calls:
                pos = self.scatter.pos
                raise LimitError("max_calls_per_run", over_calls(
                    f"the scatter over {self.scatter.variable} at {os.path.basename(pos.uri)}:{pos.line} has more "
                    f"than {self.max_calls:,} shards", self.max_calls))
        if isinstance(node, Tree.Call):
            self.calls += 1
            if self.max_calls is not None and self.calls > self.max_calls:
                raise LimitError("max_calls_per_run", over_calls(
                    f"the run would make more than {self.max_calls:,} calls (call {node.name} is the next)",
                    self.max_calls))


class _Machine(_StateMachine):
    """miniwdl's state machine (with the File-literal rule), telling the run's budget of every job it
    schedules, as it does."""

    budget: _Budget | None = None  # set again after every load: the limits are the team's of the day

    def __init__(self, budget: _Budget, *args) -> None:
        self.budget = budget  # before StateMachine.__init__, which schedules the workflow's top-level jobs
        super().__init__(*args)

    def _schedule(self, job) -> None:
        if self.budget is not None:
            self.budget.scheduled(job.node)
        super()._schedule(job)

    def _do_job(self, cfg, stdlib, job):
        if self.budget is None or not isinstance(job.node, Tree.Scatter):
            return super()._do_job(cfg, stdlib, job)
        self.budget.scatter, self.budget.shards = job.node, 0
        try:
            return super()._do_job(cfg, stdlib, job)
        finally:
            self.budget.scatter = None

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("budget", None)
        return state
