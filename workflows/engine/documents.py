"""Load WDL (with its imports zip) and describe and validate what a run of it needs."""
import asyncio
import dataclasses
import io
import posixpath
import re
import zipfile
from typing import Callable

import WDL
from WDL import Env, Error, Expr, Tree, Type, Value, _grammar

from .errors import InputError, WdlError
from .leniency import MAX_RESPELLINGS, Respelt, leniency_error, respell

# miniwdl wants an absolute path for every document; this prefix exists on no machine, so
# nothing (WDL 1.2 source-relative paths included) can reach the file system through it.
SOURCE_ROOT = "/.batchsite-wdl/"
IMPORTS_ZIP = "imports.zip"
MAX_IMPORT_BYTES = 5 * 1024 * 1024  # one file inside the zip, against zip bombs
LOAD_ERRORS = (Error.SyntaxError, Error.ValidationError, Error.MultipleValidationErrors, Error.ImportError,
               Error._BadCharacterEncoding)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str  # "wf.x", as keys of Cromwell's inputs JSON
    type: str  # "Array[File]"
    optional: bool  # the type ends in "?"
    default: str | None  # the default expression's WDL text
    required: bool  # neither optional nor defaulted


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    name: str  # "wf.out"
    type: str


class Document:
    """A loaded, typechecked WDL document and the workflow (or single task) it runs."""

    def __init__(self, tree: Tree.Document, filename: str, *, runnable: bool = True) -> None:
        self.tree = tree
        self.filename = filename
        if tree.workflow is not None:
            self.executable: Tree.Workflow | Tree.Task | None = tree.workflow
        elif len(tree.tasks) == 1:
            self.executable = tree.tasks[0]  # miniwdl runs a lone task as the whole run
        elif not runnable:
            self.executable = None  # a library of tasks and structs, described but never run
        else:
            raise WdlError(f"there is no workflow, and {len(tree.tasks)} tasks: nothing says what to run",
                           uri=filename)
        executable = self.executable
        self.name: str = executable.name if executable else ""
        self.version: str = tree.effective_wdl_version  # "draft-2" when the file has no version line
        required = {binding.name for binding in executable.required_inputs} if executable else set()
        self.inputs = [_input_spec(self.name, binding.name, binding.value, binding.name in required)
                       for binding in (executable.available_inputs if executable else [])]
        self.outputs = [OutputSpec(name=f"{self.name}.{binding.name}", type=str(binding.value))
                        for binding in (executable.effective_outputs if executable else [])]
        self.images = sorted(_literal_images(tree))
        self.literal_runtimes = _literal_runtimes(tree)
        self.meta = _meta_json(executable.meta) if executable else {}
        self.parameter_meta = _meta_json(executable.parameter_meta) if executable else {}
        # each struct's members' types as miniwdl prints them ("Array[File]+"), imported structs by their alias
        self.structs = {binding.name: {name: str(type_) for name, type_ in binding.value.members.items()}
                        for binding in tree.struct_typedefs}

    @property
    def is_task(self) -> bool:
        """Tell whether the document runs a single task rather than a workflow."""
        return isinstance(self.executable, Tree.Task)

    def check_inputs(self, inputs: dict) -> dict:
        """Validate Cromwell-style inputs JSON and return it normalised; raise InputError naming the key."""
        return WDL.values_to_json(self.input_values(inputs), namespace=self.name)

    def input_values(self, inputs: dict) -> Env.Bindings[Value.Base]:
        """Convert inputs JSON to miniwdl values, checking every key, type and required input."""
        if not isinstance(inputs, dict):
            raise InputError("", "the inputs must be a JSON object")
        values = self._values(inputs)
        missing = self.executable.required_inputs.subtract(values)
        for binding in missing:
            raise InputError(f"{self.name}.{binding.name}", "required input is missing")
        return values

    def input_paths(self, inputs: dict) -> list[tuple[str, str]]:
        """Return (input name, path) for every File and Directory value the inputs JSON names."""
        found: list[tuple[str, str]] = []
        for binding in self._values(inputs):
            def note(value, key=f"{self.name}.{binding.name}"):
                found.append((key, value.value))
                return value.value
            Value.rewrite_paths(binding.value, note)
        return found

    def map_input_files(self, inputs: dict, map_path: Callable[[str], str]) -> dict:
        """Return the inputs JSON with every File and Directory value replaced by map_path(value)."""
        values = Value.rewrite_env_paths(self._values(inputs), lambda value: map_path(value.value))
        return WDL.values_to_json(values, namespace=self.name)

    def output_files(self, outputs: dict) -> dict[str, list[str]]:
        """Return {output name: the paths of its File values, in order} of a run's outputs JSON.

        Files inside arrays, maps, pairs and structs count, each once where it appears; an output
        the document does not declare, or whose value does not fit its type, has none.
        """
        found: dict[str, list[str]] = {}
        for binding in self.executable.effective_outputs:
            name = f"{self.name}.{binding.name}"
            if outputs.get(name) is None:
                continue
            paths: list[str] = []
            try:
                value = Value.from_json(binding.value, outputs[name])
                Value.rewrite_files(value, lambda path: paths.append(path) or path)
            except (Error.InputError, Error.EvalError, ValueError):
                continue
            found[name] = paths
        return found

    def task(self, ref: str) -> Tree.Task:
        """Find a task by the reference a TaskCall carries: import namespaces, then the task name."""
        *namespaces, name = ref.split(".")
        tree = self.tree
        for namespace in namespaces:
            tree = next((imp.doc for imp in tree.imports if imp.namespace == namespace), None)
            if tree is None:
                raise KeyError(f"no task {ref} in {self.filename}")
        task = next((task for task in tree.tasks if task.name == name), None)
        if task is None:
            raise KeyError(f"no task {ref} in {self.filename}")
        return task

    def _values(self, inputs: dict) -> Env.Bindings[Value.Base]:
        available = self.executable.available_inputs
        values: Env.Bindings[Value.Base] = Env.Bindings()
        for key, value in inputs.items():
            if key.startswith("#"):  # Cromwell and miniwdl allow "comment" keys
                continue
            if not key.startswith(self.name + "."):
                raise InputError(key, f"unknown input: input names start with {self.name}.")
            try:
                for binding in WDL.values_from_json({key: value}, available, namespace=self.name):
                    # values_from_json leaves some checks to coercion, such as Array[File]+ being nonempty
                    checked = binding.value.coerce(decl_type(available[binding.name]))
                    values = values.bind(binding.name, checked)
            except (Error.InputError, Error.EvalError, ValueError) as exn:
                message = str(exn)
                raise InputError(key, "unknown input" if message.startswith("unknown input") else message) from None
        return values


def load(source: str, *, filename: str = "main.wdl", imports: bytes | None = None, runnable: bool = True) -> Document:
    """Parse and typecheck WDL, resolving imports only from the optional zip; raise WdlError.

    runnable=False also loads a library (no workflow, several tasks), to describe it.

    What miniwdl refuses but the specification or Cromwell accepts, and can be respelt in place
    (see leniency.respell), is respelt and the file loaded again; errors point into the files as written.
    """
    main = posixpath.basename(filename) or "main.wdl"  # the main file sits at the root of the imports
    files = _zip_files(imports) if imports else None
    texts = {main: source}  # every file read, by its name, as written
    respelt: dict[str, Respelt] = {}

    async def read_source(uri: str, path: list[str], importer: Tree.Document | None) -> WDL.ReadSourceResult:
        if importer is None:
            name = main
        else:
            name = _find_import(uri, importer.pos.abspath[len(SOURCE_ROOT):], files)
            if name not in texts:  # read once: a respelt file is loaded again
                texts[name] = _read_import(files, name)
        text = respelt[name].text() if name in respelt else texts[name]
        return WDL.ReadSourceResult(source_text=text, abspath=SOURCE_ROOT + name)

    for _ in range(MAX_RESPELLINGS):
        try:
            return Document(_load_in_fresh_loop(main, read_source), main, runnable=runnable)
        except LOAD_ERRORS as exn:
            if not respell(exn, texts, respelt, lambda pos: _uri(pos, main)):
                raise _user_error(exn, main, texts, respelt) from None
    raise WdlError(f"more than {MAX_RESPELLINGS} places need respelling: correct the file", uri=main)


def parsers_build() -> None:
    """Build miniwdl's parser of every WDL version now. miniwdl builds one on its first use in a process,
    about 0.2 s each: a worker builds them once, before its pool forks, not in each process's first task."""
    for version in _grammar.versions:
        WDL.parse_document("workflow w {}\n" if version == "draft-2" else f"version {version}\nworkflow w {{}}\n")


def _user_error(exn: Exception, main: str, texts: dict[str, str], respelt: dict[str, Respelt]) -> WdlError:
    """Return the error to show: positions and the quoted line as in the file the user wrote."""
    error = leniency_error(_wdl_error(exn, main), texts)
    if error.uri in respelt and error.line is not None and error.column is not None:
        error.column = respelt[error.uri].original_column(error.line, error.column)
    lines = texts.get(error.uri, "").splitlines()
    if error.line is not None and 0 < error.line <= len(lines):
        error.source_line = lines[error.line - 1]
    return error


def _uri(pos, main: str) -> str:
    return pos.abspath[len(SOURCE_ROOT):] if pos.abspath.startswith(SOURCE_ROOT) else main


def imported_uris(source: str) -> list[str]:
    """Return the URIs a WDL document imports, as written; [] when it does not parse (load() says why)."""
    try:
        return [imported.uri for imported in WDL.parse_document(source).imports]
    except (Error.SyntaxError, Error.ValidationError, Error.MultipleValidationErrors, Error._BadCharacterEncoding):
        return []


def _load_in_fresh_loop(main: str, read_source) -> Tree.Document:
    # WDL.load calls asyncio.run, which refuses to run inside a running event loop (an async view)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return WDL.load(main, read_source=read_source)
    raise RuntimeError("engine.load must not be called from a running event loop")


class _ImportNotFound(Exception):
    pass


def _zip_files(imports: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(imports))
    except zipfile.BadZipFile:
        raise WdlError("the imports are not a zip file", uri=IMPORTS_ZIP) from None


def _find_import(uri: str, importer: str, files: zipfile.ZipFile | None) -> str:
    if files is None:
        raise _ImportNotFound(f"{uri} was imported, but no imports zip was given")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
        raise _ImportNotFound(f"{uri} is a URL: imports come only from the imports zip")
    names = set(files.namelist())
    # relative to the importing file first, then to the zip's root (Cromwell's rule), then to the
    # zip's one top folder when someone zipped the folder rather than its contents
    candidates = [posixpath.join(posixpath.dirname(importer), uri), uri]
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        candidates.append(posixpath.join(tops.pop(), uri))
    for candidate in candidates:
        candidate = posixpath.normpath(candidate)
        if not candidate.startswith("../") and candidate in names:
            return candidate
    raise _ImportNotFound(f"{uri} is not in the imports zip")


def _read_import(files: zipfile.ZipFile, name: str) -> str:
    if files.getinfo(name).file_size > MAX_IMPORT_BYTES:
        raise _ImportNotFound(f"{name} is larger than {MAX_IMPORT_BYTES:,} bytes")
    try:
        return files.read(name).decode("utf-8")
    except UnicodeDecodeError as exn:
        raise _ImportNotFound(f"{name} is not UTF-8 text (byte {exn.start})") from None
    except (zipfile.BadZipFile, OSError, NotImplementedError) as exn:
        raise _ImportNotFound(f"{name} cannot be read from the zip: {exn}") from None


def _wdl_error(exn: Exception, main: str) -> WdlError:
    if isinstance(exn, Error.MultipleValidationErrors):
        errors = sorted(exn.exceptions, key=lambda error: (error.pos.line, error.pos.column))
        first = _wdl_error(errors[0], main)
        if len(errors) > 1:
            first.message += f" (and {len(errors) - 1} more errors)"
        return first
    cause = exn.__cause__
    if isinstance(exn, Error.ImportError) and isinstance(
            cause, (Error.SyntaxError, Error.ValidationError, Error.MultipleValidationErrors, Error.ImportError)):
        return _wdl_error(cause, main)  # the problem is inside the imported file: point there
    if isinstance(exn, Error.ImportError):
        message = str(cause) if isinstance(cause, _ImportNotFound) else str(exn)
    elif isinstance(exn, Error.SyntaxError):
        message = _syntax_message(str(exn))
    else:
        message = str(exn)
    pos = getattr(exn, "pos", None)
    if pos is None:
        return WdlError(message, uri=main)
    uri = _uri(pos, main)
    if pos.line < 1:  # miniwdl's "no position" (e.g. an unknown version line)
        return WdlError(message, uri=uri)
    return WdlError(message, uri=uri, line=pos.line, column=pos.column)


def _syntax_message(text: str) -> str:
    # lark's message goes on to list every token it expected; its first line says what went wrong
    first = re.sub(r",? at line \d+,? col(umn)? \d+\.?$", "", text.splitlines()[0] if text else "syntax error")
    token = re.match(r"Unexpected token Token\('([^']+)', '(.*)'\)$", first)
    if token and token.group(1) == "$END":
        return "syntax error: the file ends too early (is a closing } or >>> missing?)"
    if token:
        shown = token.group(2).replace("\\n", "\n").strip().splitlines()  # the token is shown as a repr
        return f"syntax error: unexpected {shown[0][:40]!r}" if shown else "syntax error: unexpected end of line"
    return first


def _input_spec(namespace: str, name: str, decl: Tree.Decl, required: bool) -> InputSpec:
    return InputSpec(name=f"{namespace}.{name}", type=str(decl.type), optional=decl.type.optional,
                     default=str(decl.expr) if decl.expr is not None else None, required=required)


def _meta_json(value):
    """Return a meta or parameter_meta section as JSON: miniwdl keeps its numbers and booleans as expressions."""
    if isinstance(value, dict):
        return {key: _meta_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_meta_json(item) for item in value]
    if isinstance(value, Expr.Null):
        return None
    if isinstance(value, Expr.Base):
        return getattr(value, "value", str(value))
    return value


def _literal_images(tree: Tree.Document) -> set[str]:
    images = set()
    for task in tree.tasks:
        expr = task.runtime.get("docker") or task.runtime.get("container")
        value = _literal(expr, tree.effective_wdl_version) if expr is not None else None
        if isinstance(value, str):
            images.add(value)
        elif isinstance(value, list):
            images.update(item for item in value if isinstance(item, str))
    for imported in tree.imports:
        images |= _literal_images(imported.doc)
    return images


def _literal_runtimes(tree: Tree.Document) -> dict[str, dict]:
    """Return {task name: its runtime attributes whose values are literals}, imports included."""
    runtimes = {}
    for imported in tree.imports:
        runtimes.update(_literal_runtimes(imported.doc))
    for task in tree.tasks:
        values = {key: _literal(expr, tree.effective_wdl_version) for key, expr in task.runtime.items()}
        runtimes[task.name] = {key: value for key, value in values.items() if value is not None}
    return runtimes


def _literal(expr, version: str) -> object:
    # a runtime value is literal when it evaluates with no variables and no files
    try:
        return expr.eval(Env.Bindings(), WDL.StdLib.Base(version)).json
    except (Error.RuntimeError, KeyError, NotImplementedError):
        return None


def decl_type(decl: Tree.Decl) -> Type.Base:
    """Return the type a value for decl may have: optional when the declaration has a default."""
    return decl.type.copy(optional=True) if decl.expr is not None else decl.type
