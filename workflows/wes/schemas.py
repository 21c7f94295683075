"""WES 1.1's response bodies, as pydantic schemas: the OpenAPI document is generated from them."""
from typing import Any, Literal

from ninja import Schema

State = Literal["UNKNOWN", "QUEUED", "INITIALIZING", "RUNNING", "PAUSED", "COMPLETE", "EXECUTOR_ERROR",
                "SYSTEM_ERROR", "CANCELED", "CANCELING", "PREEMPTED"]


class ErrorResponse(Schema):
    msg: str
    status_code: int


class ServiceType(Schema):
    group: str
    artifact: str
    version: str


class Organization(Schema):
    name: str
    url: str


class WorkflowTypeVersion(Schema):
    workflow_type_version: list[str]


class WorkflowEngineVersion(Schema):
    workflow_engine_version: list[str]


class DefaultWorkflowEngineParameter(Schema):
    name: str
    type: str
    default_value: str | None = None


class ServiceInfo(Schema):
    """GA4GH service-info (id, name, type, organization, version) plus WES's own fields."""

    id: str
    name: str
    type: ServiceType
    description: str
    organization: Organization
    documentationUrl: str
    version: str
    workflow_type_versions: dict[str, WorkflowTypeVersion]
    supported_wes_versions: list[str]
    supported_filesystem_protocols: list[str]
    workflow_engine_versions: dict[str, WorkflowEngineVersion]
    default_workflow_engine_parameters: list[DefaultWorkflowEngineParameter]
    system_state_counts: dict[str, int]
    auth_instructions_url: str
    tags: dict[str, str]


class RunId(Schema):
    run_id: str


class RunStatus(Schema):
    run_id: str
    state: State


class RunSummary(RunStatus):
    start_time: str | None = None
    end_time: str | None = None
    tags: dict[str, str]


class RunListResponse(Schema):
    runs: list[RunSummary]
    next_page_token: str


class RunRequest(Schema):
    """What a run was submitted with, as WES echoes it (workflow_engine_parameters are Cromwell options)."""

    workflow_params: dict[str, Any]
    workflow_type: str
    workflow_type_version: str
    tags: dict[str, str]
    workflow_engine_parameters: dict[str, Any]
    workflow_engine: str
    workflow_url: str


class Log(Schema):
    name: str | None = None
    cmd: list[str] | None = None
    start_time: str | None = None
    end_time: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    system_logs: list[str] | None = None


class TaskLog(Log):
    id: str
    name: str
    tes_uri: str | None = None


class RunLog(Schema):
    run_id: str
    request: RunRequest
    state: State
    run_log: Log
    task_logs_url: str
    task_logs: list[TaskLog] | None = None  # deprecated in 1.1: task_logs_url pages through them
    outputs: dict[str, Any]


class TaskListResponse(Schema):
    task_logs: list[TaskLog]
    next_page_token: str
