"""The WDL engine: the only code that imports miniwdl (WDL), and none of Django.

load() a document, check_inputs() at submission; EngineState.start/loads/advance/dumps step a
run; prepare() and collect() evaluate one task call around its command.
"""
from .documents import Document, InputSpec, OutputSpec, load
from .errors import EvalError, InputError, OutputError, WdlError
from .machine import EngineState, TaskCall
from .calls import PreparedTask, collect, prepare, return_code_ok
from .identity import declarations, input_files, map_output_files, output_files

__all__ = [
    "Document", "EngineState", "EvalError", "InputError", "InputSpec", "OutputError", "OutputSpec",
    "PreparedTask", "TaskCall", "WdlError", "collect", "declarations", "input_files", "load", "map_output_files",
    "output_files", "prepare", "return_code_ok",
]
