"""The OpenAPI 3 document of the Cromwell-compatible API, served at /api/openapi.json."""
from workflows.api import SERVER_VERSION

W = "/api/workflows/v1"
_ID = {"name": "id", "in": "path", "required": True, "description": "The workflow (run) id, a UUID",
       "schema": {"type": "string"}}
_JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "Success") -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict:
    responses = {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}
    responses["405"] = {"$ref": "#/components/responses/E405"}
    return responses


def _op(op_id: str, summary: str, ok: dict, *codes: int, ok_code: int = 200, **extra) -> dict:
    return {"operationId": op_id, "summary": summary, "tags": [extra.pop("tag", "Workflows")],
            "responses": {str(ok_code): ok, **_errors(401, *codes)}, **extra}


def _multipart(properties: dict) -> dict:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "additionalProperties": False}}}}


_FILE = {"type": "string", "format": "binary"}
_SUBMIT_PARTS = {
    "workflowSource": {**_FILE, "description": "The WDL (a file part or a form field)"},
    "workflowUrl": {"type": "string", "description": "Not supported: the server fetches no URLs (400)"},
    "workflowInputs": {**_FILE, "description": "Inputs JSON object (batch: an array of objects)"},
    "workflowInputs_2": {**_FILE, "description": "More inputs, merged over workflowInputs (any N)"},
    "workflowOptions": {**_FILE, "description": "Cromwell workflow options JSON"},
    "labels": {**_FILE, "description": "Labels JSON; batchsite-project: team-slug/project-slug picks the project"},
    "workflowDependencies": {**_FILE, "description": "Zip of the files the WDL imports"},
    "workflowType": {"type": "string", "enum": ["WDL"]},
    "workflowTypeVersion": {"type": "string", "enum": ["draft-2", "1.0", "1.1", "1.2", "development"]},
    "workflowOnHold": {"type": "string", "enum": ["true", "false"]},
    "requestedWorkflowId": {"type": "string", "description": "A UUID (batch: a JSON array of UUIDs)"},
}
_QUERY_PARAMS = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    for name, schema, description in [
        ("submission", {"type": "string", "format": "date-time"}, "Submitted at or after"),
        ("start", {"type": "string", "format": "date-time"}, "Started at or after"),
        ("end", {"type": "string", "format": "date-time"}, "Ended at or before"),
        ("status", {"type": "array", "items": {"type": "string", "enum": [
            "Submitted", "On Hold", "Running", "Aborting", "Aborted", "Succeeded", "Failed"]}}, "Any of these statuses"),
        ("name", {"type": "array", "items": {"type": "string"}}, "Any of these workflow names"),
        ("id", {"type": "array", "items": {"type": "string", "format": "uuid"}}, "Any of these ids"),
        ("label", {"type": "array", "items": {"type": "string"}}, "All of these key:value labels"),
        ("labelor", {"type": "array", "items": {"type": "string"}}, "Any of these key:value labels"),
        ("excludeLabelAnd", {"type": "array", "items": {"type": "string"}}, "Not all of these labels"),
        ("excludeLabelOr", {"type": "array", "items": {"type": "string"}}, "None of these labels"),
        ("additionalQueryResultFields", {"type": "array", "items": {"type": "string", "enum": [
            "labels", "parentWorkflowId"]}}, "Add these fields to each result"),
        ("includeSubworkflows", {"type": "boolean", "default": True}, "List subworkflows too (true by default)"),
        ("page", {"type": "integer", "minimum": 1, "maximum": 10_000_000}, "Page number"),
        ("pageSize", {"type": "integer", "minimum": 1, "maximum": 1000},
         "Results per page (also the page size when none is given)"),
    ]
]

_SCHEMAS = {
    "FailureResponse": {"type": "object", "required": ["status", "message"], "properties": {
        "status": {"type": "string", "enum": ["fail", "error"]}, "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}}}},
    "WorkflowIdAndStatus": {"type": "object", "required": ["id", "status"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "status": {"type": "string"}}},
    "Outputs": {"type": "object", "required": ["id", "outputs"], "properties": {
        "id": {"type": "string"}, "outputs": {"type": "object"}}},
    "WorkflowCost": {"type": "object", "required": ["id", "status", "currency", "cost", "errors"], "properties": {
        "id": {"type": "string"}, "status": {"type": "string"}, "currency": {"type": "string"},
        "cost": {"type": "number"}, "errors": {"type": "array", "items": {"type": "string"}}}},
    "Labels": {"type": "object", "required": ["id", "labels"], "properties": {
        "id": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "FailureMessage": {"type": "object", "required": ["message"], "properties": {
        "message": {"type": "string"}, "causedBy": {"type": "array", "items": {"type": "object"}}}},
    "CallMetadata": {"type": "object", "required": ["shardIndex", "attempt"], "properties": {
        "shardIndex": {"type": "integer"}, "attempt": {"type": "integer"},
        "executionStatus": {"type": "string", "enum": [
            "NotStarted", "WaitingForQueueSpace", "QueuedInCromwell", "Starting", "Running", "Aborting", "Failed",
            "RetryableFailure", "Done", "Bypassed", "Aborted", "Unstartable", "Succeeded"]},
        "backendStatus": {"type": "string"}, "backend": {"type": "string"}, "jobId": {"type": "string"},
        "stdout": {"type": "string"}, "stderr": {"type": "string"}, "callRoot": {"type": "string"},
        "commandLine": {"type": "string"}, "returnCode": {"type": "integer"},
        "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
        "inputs": {"type": "object"}, "outputs": {"type": "object"},
        "runtimeAttributes": {"type": "object", "additionalProperties": {"type": "string"}},
        "executionEvents": {"type": "array", "items": {"type": "object", "properties": {
            "description": {"type": "string"}, "startTime": {"type": "string", "format": "date-time"},
            "endTime": {"type": "string", "format": "date-time"}}}},
        "failures": {"type": "array", "items": _ref("FailureMessage")},
        "backendLogs": {"type": "object", "properties": {"log": {"type": "string"}}},
        "subWorkflowId": {"type": "string"}, "subWorkflowMetadata": _ref("WorkflowMetadata")}},
    "WorkflowMetadata": {"type": "object", "required": ["id", "calls"], "properties": {
        "id": {"type": "string"}, "workflowName": {"type": "string"}, "status": {"type": "string"},
        "submission": {"type": "string", "format": "date-time"}, "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"}, "inputs": {"type": "object"}, "outputs": {"type": "object"},
        "labels": {"type": "object"}, "workflowRoot": {"type": "string"},
        "failures": {"type": "array", "items": _ref("FailureMessage")},
        "submittedFiles": {"type": "object", "properties": {"imports": {
            "type": "object", "additionalProperties": {"type": "string"}}}, "additionalProperties": {"type": "string"}},
        "workflowProcessingEvents": {"type": "array", "items": {"type": "object"}},
        "parentWorkflowId": {"type": "string"}, "rootWorkflowId": {"type": "string"},
        "calls": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("CallMetadata")}}}},
    "Logs": {"type": "object", "required": ["id"], "properties": {
        "id": {"type": "string"},
        "calls": {"type": "object", "additionalProperties": {"type": "array", "items": _ref("CallMetadata")}}}},
    "QueryResponse": {"type": "object", "required": ["results", "totalResultsCount"], "properties": {
        "results": {"type": "array", "items": {"type": "object", "required": ["id", "status"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "status": {"type": "string"},
            "submission": {"type": "string", "format": "date-time"}, "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"}, "metadataArchiveStatus": {"type": "string"},
            "labels": {"type": "object"}, "parentWorkflowId": {"type": "string"},
            "rootWorkflowId": {"type": "string"}}}},
        "totalResultsCount": {"type": "integer"}}},
    "QueryParameter": {"type": "object", "minProperties": 1, "maxProperties": 1,
                       "additionalProperties": {"type": "string"}},
    "Backends": {"type": "object", "required": ["supportedBackends", "defaultBackend"], "properties": {
        "supportedBackends": {"type": "array", "items": {"type": "string"}}, "defaultBackend": {"type": "string"}}},
    "ValueType": {"type": "object", "required": ["typeName"], "properties": {
        "typeName": {"type": "string", "enum": ["String", "File", "Directory", "Float", "Int", "Boolean", "Optional",
                                                "Array", "Map", "Pair", "Object"]}}},
    "WorkflowDescription": {"type": "object", "required": [
        "valid", "errors", "validWorkflow", "name", "inputs", "outputs", "images", "submittedDescriptorType",
        "isRunnableWorkflow"], "properties": {
        "valid": {"type": "boolean"}, "errors": {"type": "array", "items": {"type": "string"}},
        "validWorkflow": {"type": "boolean"}, "name": {"type": "string"},
        "inputs": {"type": "array", "items": {"type": "object", "required": [
            "name", "valueType", "optional", "default", "typeDisplayName"], "properties": {
            "name": {"type": "string"}, "valueType": _ref("ValueType"), "optional": {"type": "boolean"},
            "default": {"type": "string", "nullable": True}, "typeDisplayName": {"type": "string"}}}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "valueType", "typeDisplayName"],
                                               "properties": {"name": {"type": "string"},
                                                              "valueType": _ref("ValueType"),
                                                              "typeDisplayName": {"type": "string"}}}},
        "images": {"type": "array", "items": {"type": "string"}},
        "submittedDescriptorType": {"type": "object", "properties": {
            "descriptorType": {"type": "string"}, "descriptorTypeVersion": {"type": "string"}}},
        "importedDescriptorTypes": {"type": "array", "items": {"type": "object"}},
        "meta": {"type": "object"}, "parameterMeta": {"type": "object"}, "isRunnableWorkflow": {"type": "boolean"}}},
    "CallCacheDiff": {"type": "object", "required": ["callA", "callB", "hashDifferential"], "properties": {
        "callA": {"type": "object"}, "callB": {"type": "object"},
        "hashDifferential": {"type": "array", "items": {"type": "object", "properties": {
            "hashKey": {"type": "string"}, "callA": {"type": "string", "nullable": True},
            "callB": {"type": "string", "nullable": True}}}}}},
    "Version": {"type": "object", "required": ["cromwell"], "properties": {"cromwell": {"type": "string"}}},
    "Status": {"type": "object", "additionalProperties": {"type": "object", "required": ["ok"], "properties": {
        "ok": {"type": "boolean"}, "messages": {"type": "array", "items": {"type": "string"}}}}},
}


def openapi_document(server_url: str = "") -> dict:
    """Return the OpenAPI 3.0 document describing every route of the API."""
    id_op = {"parameters": [_ID]}
    paths = {
        W: {"post": _op("submit", "Submit a workflow", _json(_ref("WorkflowIdAndStatus"), "Submitted"), 400, 403,
                        413, 415, ok_code=201, requestBody=_multipart(_SUBMIT_PARTS))},
        f"{W}/batch": {"post": _op("submitBatch", "Submit one workflow per inputs object",
                                   _json({"type": "array", "items": _ref("WorkflowIdAndStatus")}, "Submitted"),
                                   400, 403, 413, 415, ok_code=201, requestBody=_multipart(_SUBMIT_PARTS))},
        f"{W}/backends": {"get": _op("backends", "List the backends", _json(_ref("Backends")))},
        f"{W}/query": {
            "get": _op("queryGet", "Find workflows of your teams", _json(_ref("QueryResponse")), 400,
                       parameters=_QUERY_PARAMS),
            "post": _op("queryPost", "Find workflows of your teams (parameters as a JSON list)",
                        _json(_ref("QueryResponse")), 400, requestBody={"required": True, "content": {_JSON: {
                            "schema": {"type": "array", "items": _ref("QueryParameter")}}}}),
        },
        f"{W}/callcaching/diff": {"get": _op(
            "callCacheDiff", "How the call-caching hashes of two calls differ",
            _json(_ref("CallCacheDiff")), 400, 404, parameters=[
                {"name": name, "in": "query", "required": not name.startswith("index"),
                 "schema": {"type": "integer"} if name.startswith("index") else {"type": "string"}}
                for name in ("workflowA", "callA", "indexA", "workflowB", "callB", "indexB")])},
        f"{W}/{{id}}/status": {**id_op, "get": _op("status", "A workflow's status", _json(_ref("WorkflowIdAndStatus")),
                                                  400, 404)},
        f"{W}/{{id}}/outputs": {**id_op, "get": _op("outputs", "A workflow's outputs", _json(_ref("Outputs")), 400, 404)},
        f"{W}/{{id}}/logs": {**id_op, "get": _op("logs", "Paths and links to each call's logs", _json(_ref("Logs")),
                                                400, 404)},
        f"{W}/{{id}}/labels": {
            **id_op,
            "get": _op("labels", "A workflow's labels", _json(_ref("Labels")), 400, 404),
            "patch": _op("updateLabels", "Add or change labels", _json(_ref("Labels")), 400, 403, 404,
                         requestBody={"required": True, "content": {_JSON: {"schema": {
                             "type": "object", "additionalProperties": {"type": "string"}}}}}),
        },
        f"{W}/{{id}}/abort": {**id_op, "post": _op("abort", "Abort a workflow", _json(_ref("WorkflowIdAndStatus")),
                                                  400, 403, 404)},
        f"{W}/{{id}}/releaseHold": {**id_op, "post": _op("releaseHold", "Start a workflow submitted on hold",
                                                        _json(_ref("WorkflowIdAndStatus")), 400, 403, 404)},
        f"{W}/{{id}}/metadata": {**id_op, "get": _op(
            "metadata", "Workflow and call metadata", _json(_ref("WorkflowMetadata")), 400, 404, parameters=[
                {"name": "includeKey", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
                 "description": "Keep only keys starting with these (workflow- and call-level)"},
                {"name": "excludeKey", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
                 "description": "Drop keys starting with these; 'calls' drops every call"},
                {"name": "expandSubWorkflows", "in": "query", "schema": {"type": "boolean"}},
            ])},
        f"{W}/{{id}}/metadata/failed-jobs": {**id_op, "get": _op(
            "failedJobs", "Metadata of the calls that failed", _json(_ref("WorkflowMetadata")), 400, 404)},
        f"{W}/{{id}}/cost": {**id_op, "get": _op("cost", "What a workflow's jobs cost, at the operators' prices",
                                                _json(_ref("WorkflowCost")), 400, 404)},
        f"{W}/{{id}}/timing": {**id_op, "get": _op(
            "timing", "A timeline of the workflow's calls (HTML)",
            {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}, 400, 404)},
        f"{W}/{{id}}/calls/{{call}}/log": {"parameters": [_ID, {
            "name": "call", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "The call attempt's number, as in backendLogs.log"}], "get": _op(
            "callLog", "A call attempt's stdout, stderr or backend log",
            {"description": "The log's text (X-Next-Offset: where to continue), or JSON with format=json",
             "content": {"text/plain": {"schema": {"type": "string"}}, _JSON: {"schema": {"type": "object"}}}},
            400, 404, 502, parameters=[
                {"name": "stream", "in": "query", "schema": {"type": "string", "enum": ["stdout", "stderr", "log"]}},
                {"name": "offset", "in": "query", "schema": {"type": "string"}},
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["text", "json"]}},
            ])},
        "/api/womtool/v1/describe": {"post": _op(
            "describe", "Validate and describe a WDL", _json(_ref("WorkflowDescription")), 400, 413, 415,
            tag="Womtool", requestBody=_multipart({
                "workflowSource": _FILE, "workflowUrl": {"type": "string"}, "workflowInputs": _FILE,
                "workflowDependencies": _FILE, "workflowType": {"type": "string"},
                "workflowTypeVersion": {"type": "string"}}))},
        "/engine/v1/version": {"get": {"operationId": "engineVersion", "summary": "The server's version",
                                       "tags": ["Engine"], "security": [],
                                       "responses": {"200": _json(_ref("Version"))}}},
        "/engine/v1/status": {"get": _op("engineStatus", "Health of the database, Redis and the workers",
                                         _json(_ref("Status"), "All subsystems are ok"), tag="Engine") | {
            "responses": {"200": _json(_ref("Status"), "All subsystems are ok"),
                          "500": _json(_ref("Status"), "A subsystem is not ok"), **_errors(401)}}},
    }
    responses = {f"E{code}": _json(_ref("FailureResponse"), text) for code, text in {
        400: "Malformed request, or Invalid workflow ID", 401: "No valid user name and API token (HTTP Basic)",
        403: "Not allowed", 404: "Unrecognized workflow ID (unknown, or not one of your teams')",
        405: "Method not allowed", 413: "Request too large", 415: "Content-Type is not multipart/form-data",
        502: "The backend could not be read"}.items()}
    document = {
        "openapi": "3.0.3",
        "info": {"title": "Batchsite's Cromwell-compatible API", "version": SERVER_VERSION,
                 "description": "Cromwell's REST API (paths, status codes, JSON shapes), scoped to your teams. "
                                "Authenticate with HTTP Basic: your user name and an API token."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS, "responses": responses,
                       "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"basic": []}],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
