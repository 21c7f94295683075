"""The Cromwell API's shapes as pydantic models: the OpenAPI document (/api/openapi.json) is generated from them.

Views answer with JsonResponse bodies built by the selectors, so these models document, and schemathesis
checks, what is sent; they never filter it. Query parameters are declared as text: the selectors check
them and answer Cromwell's own messages (`Unrecognized status values: ...`).
"""
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, TypeAdapter

STATUSES = ["Submitted", "On Hold", "Running", "Aborting", "Aborted", "Succeeded", "Failed"]
# A parameter or part that may be left out: None when absent, but documented as its type only (never null).
Text = str
Texts = list[str]


class FailureResponse(Schema):
    """Cromwell's failure body: "fail" for a bad request, "error" for what went wrong on the server."""

    status: Literal["fail", "error"]
    message: str
    errors: list[str] | None = None


class WorkflowIdAndStatus(Schema):
    id: str
    status: str


class Outputs(Schema):
    id: str
    outputs: dict[str, Any]


class WorkflowCost(Schema):
    id: str
    status: str
    currency: str
    cost: float
    errors: list[str]


class Labels(Schema):
    id: str
    labels: dict[str, str]


class Backends(Schema):
    supportedBackends: list[str]
    defaultBackend: str


class QueryResult(Schema):
    model_config = ConfigDict(extra="allow")
    id: str
    status: str
    name: str | None = None
    submission: str | None = None
    start: str | None = None
    end: str | None = None
    labels: dict[str, str] | None = None


class QueryResponse(Schema):
    results: list[QueryResult]
    totalResultsCount: int


class WorkflowMetadata(Schema):
    """Cromwell's metadata; which keys are present depends on includeKey/excludeKey."""

    model_config = ConfigDict(extra="allow")
    id: str
    workflowName: str | None = None
    status: str | None = None
    calls: dict[str, list[dict[str, Any]]] | None = None


class Logs(Schema):
    id: str
    calls: dict[str, list[dict[str, Any]]] | None = None


class HashDifference(Schema):
    hashKey: str
    callA: str | None
    callB: str | None


class CallCacheDiff(Schema):
    callA: dict[str, Any]
    callB: dict[str, Any]
    hashDifferential: list[HashDifference]


class MapType(Schema):
    keyType: "ValueType"
    valueType: "ValueType"


class PairType(Schema):
    leftType: "ValueType"
    rightType: "ValueType"


class ObjectField(Schema):
    fieldName: str
    fieldType: "ValueType"


class ValueType(Schema):
    """womtool's type of an input or output: a name, and the parts of a compound type."""

    typeName: Literal["String", "File", "Directory", "Float", "Int", "Boolean", "Optional", "Array", "Map", "Pair",
                      "Object"]
    optionalType: "ValueType | None" = None
    arrayType: "ValueType | None" = None
    nonEmpty: bool | None = None
    mapType: MapType | None = None
    pairType: PairType | None = None
    objectFieldTypes: list[ObjectField] | None = None


class InputDescription(Schema):
    name: str
    valueType: ValueType
    typeDisplayName: str
    optional: bool
    default: str | None


class OutputDescription(Schema):
    name: str
    valueType: ValueType
    typeDisplayName: str


class WorkflowDescription(Schema):
    """womtool's describe: valid (with the inputs given), the workflow's interface, meta and images."""

    valid: bool
    errors: list[str]
    validWorkflow: bool
    name: str
    inputs: list[InputDescription]
    outputs: list[OutputDescription]
    images: list[str]
    submittedDescriptorType: dict[str, str]
    importedDescriptorTypes: list[dict[str, str]]
    meta: dict[str, Any]
    parameterMeta: dict[str, Any]
    isRunnableWorkflow: bool


class Version(Schema):
    cromwell: str


class Subsystem(Schema):
    ok: bool
    messages: list[str] | None = None


EngineStatus = dict[str, Subsystem]


class QueryFilters(Schema):
    """GET /query's parameters (POST sends the same as a JSON list of one-key objects)."""

    submission: Text = Field(None, description="Submitted at or after (a date-time)")
    start: Text = Field(None, description="Started at or after (a date-time)")
    end: Text = Field(None, description="Ended at or before (a date-time)")
    status: Texts = Field(None, description="Any of these statuses: " + ", ".join(STATUSES))
    name: Texts = Field(None, description="Any of these workflow names")
    id: Texts = Field(None, description="Any of these workflow ids")
    label: Texts = Field(None, description="All of these key:value labels")
    labelor: Texts = Field(None, description="Any of these key:value labels")
    excludeLabelAnd: Texts = Field(None, description="Not all of these key:value labels")
    excludeLabelOr: Texts = Field(None, description="None of these key:value labels")
    additionalQueryResultFields: Texts = Field(None, description="Add these fields to each result: labels, "
                                                                 "parentWorkflowId")
    includeSubworkflows: Text = Field(None, description="true (the default) or false: list subworkflows too")
    page: Text = Field(None, description="Page number, from 1")
    pageSize: Text = Field(None, description="Results per page, 1 to 1000")


class MetadataKeys(Schema):
    includeKey: Texts = Field(None, description="Keep only these keys (workflow- and call-level)")
    excludeKey: Texts = Field(None, description="Drop these keys")
    expandSubWorkflows: Text = Field(None, description="true: nest each subworkflow's metadata")


class CallCacheDiffQuery(Schema):
    workflowA: Text = None
    callA: Text = None
    indexA: Text = None
    workflowB: Text = None
    callB: Text = None
    indexB: Text = None


class CallLogQuery(Schema):
    stream: Text = Field(None, description="stdout, stderr, or log (the backend's log, where it keeps one)")
    offset: Text = Field(None, description="Where to continue: the X-Next-Offset of the previous answer")
    format: Text = Field(None, description="json: the text in a JSON object with nextOffset")


class SubmitParts(Schema):
    """Cromwell's submission parts; each may be a form field or a file part."""

    model_config = ConfigDict(extra="forbid")
    workflowSource: bytes = Field(None, description="The WDL")
    workflowUrl: str = Field(None, description="Where to fetch the WDL: only under the operators' "
                                                      "workflow-url.allowed-prefixes")
    workflowInputs: bytes = Field(None, description="Inputs: a JSON (or YAML) object; batch: an array")
    workflowInputs_2: bytes = Field(None, description="More inputs, merged over workflowInputs (any N)")
    workflowOptions: bytes = Field(None, description="Cromwell workflow options JSON")
    labels: bytes = Field(None, description="Labels JSON; batchsite-project: team-slug/project-slug "
                                                   "picks the project")
    workflowDependencies: bytes = Field(None, description="A zip of the files the WDL imports")
    workflowType: Literal["WDL"] = None
    workflowTypeVersion: Literal["draft-2", "1.0", "1.1", "1.2", "development"] = None
    workflowOnHold: Literal["true", "false"] = None
    requestedWorkflowId: str = Field(None, description="A UUID (batch: a JSON array of UUIDs)")


class DescribeParts(Schema):
    model_config = ConfigDict(extra="forbid")
    workflowSource: bytes = Field(None, description="The WDL")
    workflowUrl: str = Field(None, description="Where to fetch the WDL (as for a submission)")
    workflowInputs: bytes = Field(None, description="Inputs to check: a JSON (or YAML) object")
    workflowDependencies: bytes = Field(None, description="A zip of the files the WDL imports")
    workflowType: str = None
    workflowTypeVersion: str = None


def body(schema, content_type: str = "application/json") -> dict:
    """Return an operation's OpenAPI requestBody for a body the view reads itself (Cromwell's own checks)."""
    adapter = TypeAdapter(schema)
    return {"requestBody": {"required": True, "content": {content_type: {"schema": adapter.json_schema()}}}}


QueryItem = Annotated[dict[str, str], Field(min_length=1, max_length=1)]
