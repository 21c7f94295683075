"""Cromwell's REST routes: each view checks access through a selector, makes one service call, answers JSON."""

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.views.decorators.csrf import csrf_exempt

from batchsite.config import ConfigError, get_config
from teams.selectors import team_limits
from workflows.api import SERVER_VERSION, selectors, services
from workflows.api.callcaching import call_cache_diff
from workflows.api.describe import workflow_describe
from workflows.api.engine import engine_status as engine_status_check
from workflows.api.forms import labels_peek, request_parts, submission_parse
from workflows.api.http import ApiError, api_view, failure
from workflows.api.metadata import metadata_response, run_failed_jobs
from workflows.services.limits import json_load
from workflows.api.openapi import openapi_document
from workflows.api.query import run_query
from workflows.models import Run
from workflows.selectors import call_log_read, call_log_streams, offset_parse, run_timeline
from workflows.selectors.cost import run_cost
from workflows.services.cost import CURRENCY
from workflows.services import run_abort, run_release_hold

LOG_LIMIT = 5 * 1024 * 1024  # characters of a log returned in one response


def _log_url(request, run):
    base = request.build_absolute_uri(f"/api/workflows/v1/{run.pk}/calls/")
    return lambda pk: f"{base}{pk}/log"


@api_view("POST")
def submit(request, version):
    """Submit one workflow: 201 {"id", "status"}."""
    project, submission = _submission(request, batch=False)
    run = services.api_submit(user=request.user, project=project, submission=submission)[0]
    return _with_warnings(JsonResponse({"id": str(run.pk), "status": run.status}, status=201), submission.warnings)


@api_view("POST")
def submit_batch(request, version):
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


@api_view("GET")
def backends(request, version):
    """List the configured backend providers and the default one."""
    config = get_config()
    return JsonResponse({"supportedBackends": sorted(config.providers), "defaultBackend": config.default_backend})


@api_view("GET")
def status(request, version, run_id):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse({"status": selectors.workflow_status(workflow), "id": workflow.id})


@api_view("GET")
def outputs(request, version, run_id):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse({"outputs": selectors.workflow_outputs(workflow), "id": workflow.id})


@api_view("GET")
def cost(request, version, run_id):
    """Cromwell's cost of a run: what its calls' jobs cost at the operators' price table."""
    run = selectors.run_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse({"id": str(run.pk), "status": run.status, "currency": CURRENCY,
                         "cost": float(run_cost(run=run)), "errors": []})


@api_view("GET")
def logs(request, version, run_id):
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse(selectors.workflow_logs(workflow=workflow, log_url=_log_url(request, workflow.run)))


@api_view("GET", "PATCH")
def labels(request, version, run_id):
    """Read a run's labels, or (PATCH) add and change some."""
    if request.method == "PATCH":
        run = selectors.run_get_for_api(user=request.user, run_id=run_id, write=True)
        try:
            new = json_load(request.body or b"null")
        except ValueError as exc:
            raise ApiError(400, f"The labels are {exc}: send a JSON object of string keys and values") from None
        if not isinstance(new, dict):
            raise ApiError(400, "The labels must be a JSON object of string keys and values")
        run = services.run_labels_update(run=run, labels=new)
    else:
        run = selectors.run_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse({"id": str(run.pk), "labels": selectors.run_labels(run)})


@api_view("POST")
def abort(request, version, run_id):
    """Abort a run: 200 {"id", "status": "Aborting"} ("Aborted" at once when it was on hold)."""
    run = selectors.run_get_for_api(user=request.user, run_id=run_id, write=True)
    on_hold = run.status == Run.Status.ON_HOLD
    if not run_abort(run=run, user=request.user):
        run.refresh_from_db(fields=["status"])
        raise ApiError(403, f"Couldn't abort {run.pk} because it is already {run.status}", kind="error")
    # as Cromwell: a run that never started is Aborted at once, one that runs is Aborting until its jobs stop
    return JsonResponse({"id": str(run.pk), "status": Run.Status.ABORTED if on_hold else Run.Status.ABORTING})


@api_view("POST")
def release_hold(request, version, run_id):
    """Let a run submitted on hold start: 200 {"id", "status": "Submitted"}."""
    run = selectors.run_get_for_api(user=request.user, run_id=run_id, write=True)
    if not run_release_hold(run=run):
        raise ApiError(403, f"Couldn't change status of workflow {run.pk} to 'Submitted' because the workflow is "
                            f"not in 'On Hold' state", kind="error")
    return JsonResponse({"id": str(run.pk), "status": Run.Status.SUBMITTED})


def _flag(request, name: str) -> bool:
    value = request.GET.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"The query parameter '{name}' was malformed: '{value}' is not a valid Boolean value")
    return value == "true"


@api_view("GET")
def metadata(request, version, run_id):
    """Stream Cromwell's metadata, filtered by includeKey/excludeKey, subworkflows expanded on request."""
    workflow = selectors.workflow_get_for_api(user=request.user, run_id=run_id)
    include, exclude = request.GET.getlist("includeKey"), request.GET.getlist("excludeKey")
    return metadata_response(request, workflow, include=include, exclude=exclude,
                             expand_subworkflows=_flag(request, "expandSubWorkflows"),
                             log_url=_log_url(request, workflow.run))


@api_view("GET")
def callcaching_diff(request, version):
    """Compare the hashes of two calls (workflowA/callA/indexA against workflowB/callB/indexB)."""
    return JsonResponse(call_cache_diff(user=request.user, params=request.GET))


@api_view("GET")
def failed_jobs(request, version, run_id):
    run = selectors.run_get_for_api(user=request.user, run_id=run_id)
    return JsonResponse(run_failed_jobs(run=run, log_url=_log_url(request, run)))


@api_view("GET", "POST")
def query(request, version):
    """Find runs of the caller's teams: GET query parameters, or POST a JSON list of one-key objects."""
    if request.method == "POST":
        try:
            items = json_load(request.body or b"[]")
        except ValueError as exc:
            raise ApiError(400, f"The query is {exc}: send a JSON array of objects such as "
                                "[{\"status\": \"Running\"}]") from None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ApiError(400, "The query must be a JSON array of objects such as [{\"status\": \"Running\"}]")
        params = [(key, value) for item in items for key, value in item.items()]
    else:
        params = [(key, value) for key in request.GET for value in request.GET.getlist(key)]
    return JsonResponse(run_query(user=request.user, params=params))


@api_view("GET")
def timing(request, version, run_id):
    """Show the run's calls on a timeline: a standalone HTML page."""
    run = selectors.run_get_for_api(user=request.user, run_id=run_id)
    try:  # the UI's timeline partial, once it exists; else this page draws the bars itself
        partial = get_template("workflows/_timeline.html")
    except TemplateDoesNotExist:
        partial = None
    return render(request, "api/timing.html", {"run": run, "timeline": run_timeline(run=run), "partial": partial})


@api_view("GET")
def call_log(request, version, run_id, call_pk):
    """Return a call attempt's stdout, stderr or backend log (AWS Batch: CloudWatch) as text, or JSON with the offset."""
    run = selectors.run_get_for_api(user=request.user, run_id=run_id)
    call = selectors.call_get_for_api(run=run, pk=call_pk)
    try:
        streams = call_log_streams(call=call)
    except ConfigError:
        streams = ["stdout", "stderr"]  # its provider left the config: its files may still be read
    stream = request.GET.get("stream") or streams[0]
    if stream not in streams:
        raise ApiError(400, f"stream must be {' or '.join(streams)}, not {stream[:30]!r}")
    try:  # AWS Batch's log: a byte offset into the archived log, or the CloudWatch token a previous answer gave
        offset = offset_parse(request.GET.get("offset", "0"), tokens=stream == "log")
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        chunk = call_log_read(call=call, stream=stream, offset=offset, limit=LOG_LIMIT)
    except Exception as exc:  # each backend's client raises its own errors; the API says what failed
        raise ApiError(502, f"Could not read the {stream} of call {call.pk}: {exc}", kind="error") from None
    text, next_offset = chunk.text, chunk.offset
    if request.GET.get("format") == "json":
        return JsonResponse({"id": str(run.pk), "call": call.pk, "stream": stream, "text": text,
                             "nextOffset": next_offset})
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["X-Next-Offset"] = str(next_offset)
    return response


@api_view("POST")
def describe(request, version):
    """Validate a WDL with miniwdl and describe it as womtool does."""
    return JsonResponse(workflow_describe(request_parts(request)))


@api_view("GET", auth=False)
def engine_version(request, version):
    return JsonResponse({"cromwell": SERVER_VERSION})


@api_view("GET")
def engine_status(request, version):
    """Check the database, Redis and the workers: 200 when all are ok, else 500."""
    systems = engine_status_check()
    return JsonResponse(systems, status=200 if all(s["ok"] for s in systems.values()) else 500)


@csrf_exempt
def not_found(request, *args):
    """Answer an unknown API path in JSON, as the rest of the API does."""
    return failure(404, f"No API route {request.path}: see /api/openapi.json")


@csrf_exempt
def openapi(request):
    """Serve the OpenAPI document of this API."""
    return JsonResponse(openapi_document(request.build_absolute_uri("/").rstrip("/")))
