"""The WDL engine: the only code that imports miniwdl (WDL), and none of Django.

load() a document, check_inputs() at submission; EngineState.start/loads/advance/dumps step a
run within its Limits, within_budget() of time and memory; prepare() and collect() evaluate one
task call around its command.
"""
from .budget import Interrupted, within_budget
from .documents import Document, InputSpec, OutputSpec, imported_uris, load, parsers_build
from .errors import EvalError, InputError, LimitError, OutputError, WdlError
from .machine import EngineState, Limits, SubworkflowCall, TaskCall
from .calls import PreparedTask, collect, prepare, return_code_ok
from .config import is_uri
from .identity import declarations, input_files, map_output_files, output_files

__all__ = [
    "Document", "EngineState", "EvalError", "InputError", "InputSpec", "Interrupted", "LimitError", "Limits",
    "OutputError", "OutputSpec", "PreparedTask", "SubworkflowCall", "TaskCall", "WdlError", "collect", "declarations",
    "imported_uris", "input_files", "is_uri", "load", "map_output_files", "output_files", "parsers_build", "prepare",
    "return_code_ok", "within_budget",
]
