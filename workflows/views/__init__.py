"""The pages of workflows, runs and call logs; each view is an access check, a form, one service call."""
from workflows.views.batches import batch_detail, batch_rows_live, sheet_launch
from workflows.views.logs import call_log, call_log_download, call_log_tail
from workflows.views.outputs import run_output, run_output_download
from workflows.views.review import run_compare, run_labels
from workflows.views.runs import (
    run_abort, run_cleanup, run_detail, run_list, run_live, run_relaunch, run_retry, run_timeline,
)
from workflows.views.versions import version_diff, version_source
from workflows.views.workflows import run_launch, version_upload, workflow_create, workflow_detail

__all__ = [
    "batch_detail", "batch_rows_live", "sheet_launch",
    "call_log", "call_log_download", "call_log_tail", "run_abort", "run_cleanup", "run_compare", "run_detail",
    "run_labels", "run_launch", "run_list", "run_live", "run_output", "run_output_download", "run_relaunch",
    "run_retry", "run_timeline", "version_diff", "version_source", "version_upload", "workflow_create",
    "workflow_detail",
]
