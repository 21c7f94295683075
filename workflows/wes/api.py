"""WES 1.1's routes on a NinjaAPI of its own: API token auth, ErrorResponse for every error, JSON only."""
import logging
from datetime import datetime, timezone

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.security.base import AuthBase

from batchsite.config import get_config
from workflows.api import SERVER_VERSION
from workflows.api.http import REALM, ApiError, authenticate
from workflows.services.limits import PROJECT_LABEL
from workflows.engine.machine import MINIWDL_VERSION
from workflows.models import Call, Run
from workflows.services.caching import OPTIONS as CACHE_OPTIONS
from workflows.wes import schemas, selectors, services
from workflows.wes.errors import WesError, error_response, validation_message
from workflows.wes.run_request import ATTACHMENT, ENGINE, TEXT_PARTS, WDL_VERSIONS, run_request_parse

logger = logging.getLogger("batchsite.wes")
BASE_PATH = "/api/ga4gh/wes/v1"
DEFAULT_PAGE_SIZE = 100
PROTOCOLS = {"local": "file", "aws_batch": "s3"}  # what File inputs each kind of backend reads
ERRORS = frozenset({400, 401, 403, 404, 405, 413, 415, 500})  # each answered with ErrorResponse


# parsed by run_request_parse, which keeps the attachments' folders (django-ninja's File would drop them)
RUN_REQUEST_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {
    **{name: {"type": "string"} for name in TEXT_PARTS},
    ATTACHMENT: {"type": "array", "items": {"type": "string", "format": "binary"}},
}}}}}


def _answers(schema) -> dict:
    return {200: schema, ERRORS: schemas.ErrorResponse}


class ApiToken(AuthBase):
    """HTTP Basic with the user name and an API token (or Bearer with the token), as the Cromwell API."""

    openapi_type = "http"
    openapi_scheme = "basic"

    def __call__(self, request):
        return authenticate(request)


class AnonymousWithoutCredentials(AuthBase):
    """Let a request without an Authorization header through as anonymous (service-info only)."""

    openapi_type = "http"
    openapi_scheme = "basic"

    def __call__(self, request):
        return None if "HTTP_AUTHORIZATION" in request.META else AnonymousUser()


api = NinjaAPI(
    title="Batchsite: GA4GH Workflow Execution Service", version="1.1.0", urls_namespace="wes", docs_url=None,
    auth=ApiToken(), description="GA4GH WES 1.1 over Batchsite's runs: the same API tokens, teams, limits and "
    "budgets as the Cromwell API at /api/workflows/v1.",
)


@api.exception_handler(WesError)
def _wes_error(request, exc: WesError):
    return error_response(exc.status, exc.msg)


@api.exception_handler(ApiError)  # the Cromwell API's project rule speaks its own error
def _api_error(request, exc: ApiError):
    return error_response(exc.status, exc.message)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    return error_response(400, validation_message(exc))


@api.exception_handler(RequestValidationError)
def _bad_parameter(request, exc: RequestValidationError):
    problems = [f"{error['loc'][-1]}: {error['msg']}" for error in exc.errors]
    return error_response(400, "; ".join(problems) or "The request's parameters are not valid")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc: AuthenticationError):
    msg = ("WES needs HTTP Basic authentication with your user name and an API token (or Bearer with the token): "
           "create one on your account's API tokens page")
    if "HTTP_AUTHORIZATION" in request.META:
        msg = "The user name and API token are not valid (is the token revoked?)"
    return error_response(401, msg, **{"WWW-Authenticate": f'Basic realm="{REALM}"'})


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return error_response(exc.status_code, str(exc))


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return error_response(403, str(exc) or "You may not do that.")


@api.exception_handler(Http404)
def _not_found(request, exc: Http404):
    return error_response(404, str(exc) or "Not found.")


@api.exception_handler(Exception)
def _unexpected(request, exc: Exception):
    logger.error("Unexpected error answering %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, f"Batchsite could not answer {request.method} {request.path[:200]}: an internal "
                               "error was logged for the operators")


def _time(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z") if value else None


def _summary(run: Run) -> dict:
    return {"run_id": str(run.pk), "state": run.wes_state, "start_time": _time(run.started),
            "end_time": _time(run.ended), "tags": run.labels or {}}


def _task_log(request, call: Call) -> dict:
    logs = request.build_absolute_uri(f"/api/workflows/v1/{call.run_id}/calls/{call.pk}/log")
    shard = f"[{call.shard_index}]" if call.shard_index >= 0 else ""
    system = [f"status: {call.get_status_display()}", f"attempt: {call.attempt}"]
    system += [f"failure: {call.failure}"] if call.failure else []
    system += [f"backend job: {call.backend_job_id}"] if call.backend_job_id else []
    return {"id": str(call.pk), "name": f"{call.fqn}{shard}", "cmd": [call.command] if call.command else [],
            "start_time": _time(call.started), "end_time": _time(call.ended),
            "stdout": f"{logs}?stream=stdout" if call.backend_job_id else None,
            "stderr": f"{logs}?stream=stderr" if call.backend_job_id else None,
            "exit_code": call.return_code, "system_logs": system, "tes_uri": None}


@api.get("/service-info", response=_answers(schemas.ServiceInfo), summary="GetServiceInfo",
         auth=[ApiToken(), AnonymousWithoutCredentials()])
def service_info(request):
    """Describe this service; system_state_counts count the runs of the caller's teams (none when anonymous)."""
    user = request.auth
    config = get_config()
    base = request.build_absolute_uri("/").rstrip("/")
    default_backend = config.default_backend
    return {
        "id": ".".join([*reversed(request.get_host().split(":")[0].split(".")), "wes"]), "name": "Batchsite",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "description": "Runs WDL workflows on AWS Batch or a local sandboxed backend, for teams.",
        "organization": {"name": "Batchsite", "url": base}, "documentationUrl": f"{base}{BASE_PATH}/openapi.json",
        "version": SERVER_VERSION,
        "workflow_type_versions": {"WDL": {"workflow_type_version": list(WDL_VERSIONS)}},
        "supported_wes_versions": ["1.0.0", "1.1.0"],
        "supported_filesystem_protocols": sorted({PROTOCOLS[p.kind] for p in config.providers.values()}),
        "workflow_engine_versions": {ENGINE: {"workflow_engine_version": [SERVER_VERSION]}},
        "default_workflow_engine_parameters": [
            {"name": PROJECT_LABEL, "type": "string", "default_value": None},
            {"name": "backend", "type": "string", "default_value": default_backend},
            *({"name": name, "type": "boolean", "default_value": "true"} for name in sorted(CACHE_OPTIONS)),
        ],
        "system_state_counts": selectors.state_counts(user=user) if user.is_authenticated else {},
        "auth_instructions_url": f"{base}/account/tokens/",
        "tags": {"engine": f"miniwdl {MINIWDL_VERSION}", "project_tag": PROJECT_LABEL,
                 "cromwell_api": f"{base}/api/workflows/v1"},
    }


@api.get("/runs", response=_answers(schemas.RunListResponse), summary="ListRuns")
def list_runs(request, page_size: int = Query(DEFAULT_PAGE_SIZE, ge=1), page_token: str = Query("", max_length=500)):
    """List the runs of the caller's teams, newest first; page_size above 1,000 gets 1,000."""
    runs, token = selectors.run_page(user=request.auth, page_size=page_size, token=page_token)
    return {"runs": [_summary(run) for run in runs], "next_page_token": token}


@api.post("/runs", response=_answers(schemas.RunId), summary="RunWorkflow",
          openapi_extra={"requestBody": RUN_REQUEST_BODY})
def run_workflow(request):
    """Start a run of the attached WDL; workflow_url names the main file among the attachments."""
    run = services.wes_run_submit(user=request.auth, run_request=run_request_parse(request))
    return {"run_id": str(run.pk)}


@api.get("/runs/{run_id}", response=_answers(schemas.RunLog), summary="GetRunLog")
def get_run_log(request, run_id: str):
    """Describe a run: what it was submitted with, its state, outputs, and where its tasks are listed."""
    run = selectors.wes_run_get(user=request.auth, run_id=run_id)
    version = run.version
    return {
        "run_id": str(run.pk), "state": run.wes_state, "outputs": run.outputs or {},
        "request": {"workflow_params": run.inputs or {}, "workflow_type": "WDL",
                    "workflow_type_version": version.wdl_version, "tags": run.labels or {},
                    "workflow_engine_parameters": run.options or {}, "workflow_engine": ENGINE,
                    "workflow_url": version.source.name.rsplit("/", 1)[-1]},
        "run_log": {"name": version.wdl_name, "cmd": None, "start_time": _time(run.started),
                    "end_time": _time(run.ended), "stdout": None, "stderr": None, "exit_code": None,
                    "system_logs": [failure.get("message", "") for failure in run.failures or []]},
        "task_logs_url": request.build_absolute_uri(f"{BASE_PATH}/runs/{run.pk}/tasks"),
        "task_logs": None,
    }


@api.get("/runs/{run_id}/status", response=_answers(schemas.RunStatus), summary="GetRunStatus")
def get_run_status(request, run_id: str):
    run = selectors.wes_run_get(user=request.auth, run_id=run_id)
    return {"run_id": str(run.pk), "state": run.wes_state}


@api.post("/runs/{run_id}/cancel", response=_answers(schemas.RunId), summary="CancelRun")
def cancel_run(request, run_id: str):
    """Abort a run: CANCELING until its jobs have stopped, then CANCELED."""
    run = selectors.wes_run_get(user=request.auth, run_id=run_id, write=True)
    services.wes_run_cancel(run=run, user=request.auth)
    return {"run_id": str(run.pk)}


@api.get("/runs/{run_id}/tasks", response=_answers(schemas.TaskListResponse), summary="ListTasks")
def list_tasks(request, run_id: str, page_size: int = Query(DEFAULT_PAGE_SIZE, ge=1),
               page_token: str = Query("", max_length=500)):
    """List a run's call attempts (one task per shard and attempt) in the order they were created."""
    run = selectors.wes_run_get(user=request.auth, run_id=run_id)
    calls, token = selectors.task_page(run=run, page_size=page_size, token=page_token)
    return {"task_logs": [_task_log(request, call) for call in calls], "next_page_token": token}


@api.get("/runs/{run_id}/tasks/{task_id}", response=_answers(schemas.TaskLog), summary="GetTask")
def get_task(request, run_id: str, task_id: str):
    run = selectors.wes_run_get(user=request.auth, run_id=run_id)
    return _task_log(request, selectors.task_get(run=run, task_id=task_id))
