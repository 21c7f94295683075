"""Cromwell's REST routes on django-ninja: each view checks access through a selector, makes one service call,
answers JSON (Cromwell's exact bodies, so views return JsonResponse; schemas.py documents them).
"""
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from ninja import Query, Router

from batchsite.config import ConfigError, get_config
from teams.selectors import team_limits
from workflows.api import SERVER_VERSION, schemas, selectors, services
from workflows.api.callcaching import call_cache_diff
from workflows.api.describe import workflow_describe
from workflows.api.engine import engine_status as engine_status_check
from workflows.api.forms import labels_peek, request_parts, submission_parse
from workflows.api.http import ApiError
from workflows.api.metadata import metadata_response, run_failed_jobs
from workflows.api.query import run_query
from workflows.api.schemas import FailureResponse
from workflows.models import Run
from workflows.selectors import call_log_read, call_log_streams, offset_parse, run_timeline
from workflows.selectors.cost import run_cost
from workflows.services import run_abort, run_release_hold
from workflows.services.cost import CURRENCY
from workflows.services.limits import json_load

LOG_LIMIT = 5 * 1024 * 1024  # characters of a log returned in one response
W = "/api/workflows/v1"
router = Router(tags=["Workflows"])


def answers(ok, *codes: int, ok_code: int = 200) -> dict:
    """Return an operation's documented answers: ok (None: not JSON) and Cromwell's failure body for 401 and codes."""
    return {frozenset({401, *codes}): FailureResponse} | ({ok_code: ok} if ok is not None else {})


def get(path: str, **options):
    """Register a GET route that HEAD reaches too (the document lists GET only)."""
    return router.api_operation(["GET", "HEAD"], path, **options)


def _log_url(request, run):
    base = request.build_absolute_uri(f"{W}/{run.pk}/calls/")
    return lambda pk: f"{base}{pk}/log"


@router.post(W, response=answers(schemas.WorkflowIdAndStatus, 400, 403, 413, 415, ok_code=201),
             operation_id="submit", url_name="submit", summary="Submit a workflow",
             openapi_extra=schemas.body(schemas.SubmitParts, "multipart/form-data"))
def submit(request):
    """Submit one workflow: 201 {"id", "status"}."""
    project, submission = _submission(request, batch=False)
    run = services.api_submit(user=request.user, project=project, submission=submission)[0]
    return _with_warnings(JsonResponse({"id": str(run.pk), "status": run.status}, status=201), submission.warnings)


@router.post(f"{W}/batch", response=answers(list[schemas.WorkflowIdAndStatus], 400, 403, 413, 415, ok_code=201),
             operation_id="submitBatch", url_name="submit_batch", summary="Submit one workflow per inputs object",
             openapi_extra=schemas.body(schemas.SubmitParts, "multipart/form-data"))
def submit_batch(request):
    """Submit one workflow per inputs object: 201 [{"id", "status"}, ...]."""
    project, submission = _submission(request, batch=True)
    runs = services.api_submit(user=request.user, project=project, submission=submission)
    body = [{"id": str(run.pk), "status": run.status} for run in runs]
    return _with_warnings(JsonResponse(body, status=201, safe=False), submission.warnings)


def _submission(request, *, batch: bool):
    """Find the project a submission lands in, then check the submission against its team's limits."""
    parts = request_parts(request)
    project = services.api_project_resolve(user=request.user, labels=labels_peek(parts))
    return project, submission_parse(parts, batch=batch, limits=team_limits(project.team))


def _with_warnings(response, warnings):
    if warnings:
        response["Warning"] = ", ".join(f'299 batchsite "{w}"' for w in warnings)
    return response


@get(f"{W}/backends", response=answers(schemas.Backends), operation_id="backends", url_name="backends",
     summary="List the backends")
def backends(request):
    """List the configured backend providers and the default one."""
    config = get_config()
    return JsonResponse({"supportedBackends": sorted(config.providers), "defaultBackend": config.default_backend})


@get(f"{W}/{{id}}/status", response=answers(schemas.WorkflowIdAndStatus, 400, 404), operation_id="status",
     url_name="status", summary="A workflow's status (a subworkflow's id too)")
def status(request, id: str):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=id)
    return JsonResponse({"status": selectors.workflow_status(workflow), "id": workflow.id})


@get(f"{W}/{{id}}/outputs", response=answers(schemas.Outputs, 400, 404), operation_id="outputs",
     url_name="outputs", summary="A workflow's outputs (a subworkflow's id too)")
def outputs(request, id: str):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=id)
    return JsonResponse({"outputs": selectors.workflow_outputs(workflow), "id": workflow.id})


@get(f"{W}/{{id}}/cost", response=answers(schemas.WorkflowCost, 400, 404), operation_id="cost", url_name="cost",
     summary="What a workflow's jobs cost")
def cost(request, id: str):
    """Cromwell's cost of a run: what its calls' jobs cost at the operators' price table."""
    run = selectors.run_get_for_api(user=request.user, run_id=id)
    return JsonResponse({"id": str(run.pk), "status": run.status, "currency": CURRENCY,
                         "cost": float(run_cost(run=run)), "errors": []})


@get(f"{W}/{{id}}/logs", response=answers(schemas.Logs, 400, 404), operation_id="logs", url_name="logs",
     summary="Paths and links to each call's logs")
def logs(request, id: str):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=id)
    return JsonResponse(selectors.workflow_logs(workflow=workflow, log_url=_log_url(request, workflow.run)))


@get(f"{W}/{{id}}/labels", response=answers(schemas.Labels, 400, 404), operation_id="labels", url_name="labels",
     summary="A workflow's labels")
def labels(request, id: str):
    run = selectors.run_get_for_api(user=request.user, run_id=id)
    return JsonResponse({"id": str(run.pk), "labels": selectors.run_labels(run)})


@router.patch(f"{W}/{{id}}/labels", response=answers(schemas.Labels, 400, 403, 404), operation_id="updateLabels",
              summary="Add or change labels", openapi_extra=schemas.body(dict[str, str]))
def labels_update(request, id: str):
    """Add and change some of a run's labels (the body is read here: json_load bounds its nesting and numbers)."""
    run = selectors.run_get_for_api(user=request.user, run_id=id, write=True)
    try:
        new = json_load(request.body or b"null")
    except ValueError as exc:
        raise ApiError(400, f"The labels are {exc}: send a JSON object of string keys and values") from None
    if not isinstance(new, dict):
        raise ApiError(400, "The labels must be a JSON object of string keys and values")
    run = services.run_labels_update(run=run, user=request.user, labels=new)
    return JsonResponse({"id": str(run.pk), "labels": selectors.run_labels(run)})


@router.post(f"{W}/{{id}}/abort", response=answers(schemas.WorkflowIdAndStatus, 400, 403, 404), operation_id="abort",
             url_name="abort", summary="Abort a workflow")
def abort(request, id: str):
    """Abort a run: 200 {"id", "status": "Aborting"} ("Aborted" at once when it was on hold)."""
    run = selectors.run_get_for_api(user=request.user, run_id=id, write=True)
    on_hold = run.status == Run.Status.ON_HOLD
    if not run_abort(run=run, user=request.user):  # it has ended: Cromwell's workflow store no longer holds it
        raise ApiError(404, f"Couldn't abort {run.pk} because no workflow with that ID is in progress", kind="error")
    # as Cromwell: a run that never started is Aborted at once, one that runs is Aborting until its jobs stop
    return JsonResponse({"id": str(run.pk), "status": Run.Status.ABORTED if on_hold else Run.Status.ABORTING})


@router.post(f"{W}/{{id}}/releaseHold", response=answers(schemas.WorkflowIdAndStatus, 400, 403, 404),
             operation_id="releaseHold", url_name="release_hold", summary="Start a workflow submitted on hold")
def release_hold(request, id: str):
    """Let a run submitted on hold start: 200 {"id", "status": "Submitted"}."""
    run = selectors.run_get_for_api(user=request.user, run_id=id, write=True)
    if not run_release_hold(run=run):
        raise ApiError(403, f"Couldn't change status of workflow {run.pk} to 'Submitted' because the workflow is "
                            f"not in 'On Hold' state", kind="error")
    return JsonResponse({"id": str(run.pk), "status": Run.Status.SUBMITTED})


def _flag(name: str, value: str | None) -> bool:
    value = (value or "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"The query parameter '{name}' was malformed: '{value}' is not a valid Boolean value")
    return value == "true"


@get(f"{W}/{{id}}/metadata", response=answers(schemas.WorkflowMetadata, 400, 404), operation_id="metadata",
     url_name="metadata", summary="Workflow and call metadata")
def metadata(request, id: str, params: Query[schemas.MetadataKeys]):
    """Stream Cromwell's metadata, filtered by includeKey/excludeKey, subworkflows expanded on request."""
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=id)
    return metadata_response(request, workflow, include=params.includeKey or [], exclude=params.excludeKey or [],
                             expand_subworkflows=_flag("expandSubWorkflows", params.expandSubWorkflows),
                             log_url=_log_url(request, workflow.run))


@get(f"{W}/callcaching/diff", response=answers(schemas.CallCacheDiff, 400, 404), operation_id="callCacheDiff",
     url_name="callcaching_diff", summary="How the call-caching hashes of two calls differ")
def callcaching_diff(request, params: Query[schemas.CallCacheDiffQuery]):
    """Compare the hashes of two calls (workflowA/callA/indexA against workflowB/callB/indexB)."""
    return JsonResponse(call_cache_diff(user=request.user, params=request.GET))


@get(f"{W}/{{id}}/metadata/failed-jobs", response=answers(schemas.WorkflowMetadata, 400, 404),
     operation_id="failedJobs", url_name="failed_jobs", summary="Metadata of the calls that failed")
def failed_jobs(request, id: str):
    run = selectors.run_get_for_api(user=request.user, run_id=id)
    return JsonResponse(run_failed_jobs(run=run, log_url=_log_url(request, run)))


@get(f"{W}/query", response=answers(schemas.QueryResponse, 400), operation_id="queryGet", url_name="query",
     summary="Find workflows of your teams")
def query(request, filters: Query[schemas.QueryFilters]):
    """Find runs of the caller's teams by query parameters (run_query checks them all, unknown ones included)."""
    params = [(key, value) for key in request.GET for value in request.GET.getlist(key)]
    return JsonResponse(run_query(user=request.user, params=params))


@router.post(f"{W}/query", response=answers(schemas.QueryResponse, 400), operation_id="queryPost",
             summary="Find workflows of your teams (parameters as a JSON list)",
             openapi_extra=schemas.body(list[schemas.QueryItem]))
def query_post(request):
    """Find runs of the caller's teams by a JSON list of one-key objects."""
    try:
        items = json_load(request.body or b"[]")
    except ValueError as exc:
        raise ApiError(400, f"The query is {exc}: send a JSON array of objects such as "
                            "[{\"status\": \"Running\"}]") from None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ApiError(400, "The query must be a JSON array of objects such as [{\"status\": \"Running\"}]")
    params = [(key, value) for item in items for key, value in item.items()]
    return JsonResponse(run_query(user=request.user, params=params))


@get(f"{W}/{{id}}/timing", response=answers(None, 400, 404), operation_id="timing", url_name="timing",
     summary="The calls on a timeline (an HTML page)", openapi_extra={"responses": {200: {
         "description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}})
def timing(request, id: str):
    """Show the run's calls on a timeline: a standalone HTML page."""
    run = selectors.run_get_for_api(user=request.user, run_id=id)
    try:  # the UI's timeline partial, once it exists; else this page draws the bars itself
        partial = get_template("workflows/_timeline.html")
    except TemplateDoesNotExist:
        partial = None
    return render(request, "api/timing.html", {"run": run, "timeline": run_timeline(run=run), "partial": partial})


@get(f"{W}/{{id}}/calls/{{call}}/log", response=answers(None, 400, 404, 502), operation_id="callLog",
     url_name="call_log", summary="A call attempt's stdout, stderr or backend log", openapi_extra={"responses": {200: {
         "description": "The log's text (X-Next-Offset: where to continue), or JSON with format=json",
         "content": {"text/plain": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}}}}})
def call_log(request, id: str, call: str, params: Query[schemas.CallLogQuery]):
    """Return a call attempt's stdout, stderr or backend log (AWS Batch: CloudWatch) as text, or JSON with the offset."""
    run = selectors.run_get_for_api(user=request.user, run_id=id)
    call = selectors.call_get_for_api(run=run, pk=call)
    try:
        streams = call_log_streams(call=call)
    except ConfigError:
        streams = ["stdout", "stderr"]  # its provider left the config: its files may still be read
    stream = params.stream or streams[0]
    if stream not in streams:
        raise ApiError(400, f"stream must be {' or '.join(streams)}, not {stream[:30]!r}")
    try:  # AWS Batch's log: a byte offset into the archived log, or the CloudWatch token a previous answer gave
        offset = offset_parse("0" if params.offset is None else params.offset, tokens=stream == "log")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        chunk = call_log_read(call=call, stream=stream, offset=offset, limit=LOG_LIMIT)
    except Exception as exc:  # each backend's client raises its own errors; the API says what failed
        raise ApiError(502, f"Could not read the {stream} of call {call.pk}: {exc}", kind="error") from None
    text, next_offset = chunk.text, chunk.offset
    if params.format == "json":
        return JsonResponse({"id": str(run.pk), "call": call.pk, "stream": stream, "text": text,
                             "nextOffset": next_offset})
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["X-Next-Offset"] = str(next_offset)
    return response


@router.post("/api/womtool/v1/describe", response=answers(schemas.WorkflowDescription, 400, 413, 415),
             operation_id="describe", url_name="describe", summary="Validate and describe a WDL", tags=["Womtool"],
             openapi_extra=schemas.body(schemas.DescribeParts, "multipart/form-data"))
def describe(request):
    """Validate a WDL with miniwdl and describe it as womtool does."""
    return JsonResponse(workflow_describe(request_parts(request)))


@get("/engine/v1/version", response={200: schemas.Version}, auth=None, operation_id="engineVersion",
     url_name="engine_version", summary="The server's version", tags=["Engine"])
def engine_version(request):
    return JsonResponse({"cromwell": SERVER_VERSION})


@get("/engine/v1/status", response={frozenset({200, 500}): schemas.EngineStatus}, auth=None,
     operation_id="engineStatus", url_name="engine_status", summary="Health of the database, Redis and the workers",
     tags=["Engine"])
def engine_status(request):
    """Check the database, Redis and the workers: 200 when all are ok, else 500 (a load balancer's health check)."""
    systems = engine_status_check()
    return JsonResponse(systems, status=200 if all(s["ok"] for s in systems.values()) else 500)

