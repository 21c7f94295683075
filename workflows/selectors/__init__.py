"""Reads of workflows, runs and calls, every one scoped to the user's teams."""
from workflows.selectors.calls import (
    CacheSummary, LogChunk, call_get_for_user, call_log_iter, call_log_read, call_log_streams, offset_parse,
    run_cache_summary,
)
from workflows.selectors.runs import (
    CallSummary, Progress, Slots, TeamSlots, call_page, call_summary, run_can_act, run_get_for_user,
    run_list, run_page, run_relaunches, run_submitters, team_slots,
)
from workflows.selectors.timeline import Timeline, run_timeline
from workflows.selectors.workflows import (
    version_get, version_list, version_source, workflow_get_for_user, workflow_list,
)

__all__ = [
    "CacheSummary", "CallSummary", "LogChunk", "Progress", "Slots", "TeamSlots", "Timeline", "call_get_for_user", "call_log_iter",
    "call_log_read", "call_log_streams", "call_page", "call_summary", "offset_parse", "run_cache_summary", "run_can_act",
    "run_get_for_user", "run_list", "run_page", "run_relaunches", "run_submitters", "run_timeline", "team_slots",
    "version_get", "version_list", "version_source", "workflow_get_for_user", "workflow_list",
]
