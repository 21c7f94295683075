"""Writes for workflows, versions, runs and calls (see STYLE.md: services own transactions)."""
from workflows.services.advance import run_advance
from workflows.services.execution import call_dir, job_name, run_abort_finish, team_dispatch
from workflows.services.polling import backend_poll, backends_poll, call_finish, tick
from workflows.services.runs import (
    json_object, run_abort, run_relaunch, run_release_hold, run_submit,
)
from workflows.services.versions import (
    document_for, imports_zip, wdl_check, workflow_create, workflow_version_create,
)

__all__ = [
    "backend_poll", "backends_poll", "call_dir", "call_finish", "document_for", "imports_zip", "job_name", "json_object",
    "run_abort", "run_abort_finish", "run_advance", "run_relaunch", "run_release_hold", "run_submit", "team_dispatch",
    "tick", "wdl_check", "workflow_create", "workflow_version_create",
]
