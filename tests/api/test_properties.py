"""Property-based tests (Hypothesis, fixed budget): no submission form or API body yields a 500 or a half-written run.

After every generated request, each run in the database is whole: its label rows are its labels and its
submission is in the audit trail; a refused request wrote no run.
"""
import json

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teams.models import AuditEvent
from tests.api.conftest import HELLO, upload
from tests.workflows.ui_factories import hello_workflow
from workflows.models import Run, RunLabel

BUDGET = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))

# Text with what breaks databases and parsers: NUL, lone surrogates, control and wide characters.
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\x07", "\u202e", "é", "𝔘", "\n", '"', "\\", "{", "["])
TEXT = st.lists(st.one_of(st.characters(), NASTY), max_size=40).map("".join)
# What a form field or a query parameter can carry: UTF-8 on the wire has no lone surrogates.
FIELD = TEXT.map(lambda text: text.encode("utf-8", "replace").decode("utf-8"))
KEYS = st.one_of(st.sampled_from(["hello.who", "hello.nope", "batchsite-project", "sample", "", "k" * 300]), TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)), max_leaves=12)


def json_text(value) -> bytes:
    """Encode like a careless client: NaN and Infinity as Python writes them, surrogates escaped."""
    return json.dumps(value, allow_nan=True).encode()


# A part is JSON (maybe deeply nested or not an object), or any bytes.
PART = st.one_of(
    JSON_VALUES.map(json_text),
    st.dictionaries(KEYS, JSON_VALUES, max_size=5).map(json_text),
    st.integers(min_value=1, max_value=3000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(min_value=4000, max_value=6000).map(lambda digits: b'{"hello.who": ' + b"7" * digits + b"}"),
    st.binary(max_size=60),
)
# Parts near what a client sends, so that most examples reach the deeper checks (limits, types, storage).
INPUTS = st.one_of(
    st.dictionaries(st.sampled_from(["hello.who", "hello.nope", "#comment"]), JSON_VALUES, max_size=2).map(json_text),
    st.lists(st.dictionaries(st.just("hello.who"), SCALARS, max_size=1), max_size=5).map(json_text),
    PART,
)
LABELS = st.one_of(st.dictionaries(KEYS, st.one_of(TEXT, JSON_VALUES), max_size=5).map(json_text), PART)
OPTIONS = st.one_of(st.dictionaries(st.sampled_from(["aws_batch_job_role_arn", "aws_batch_script_bucket_prefix",
                                                     "backend", "read_from_cache"]), JSON_VALUES, max_size=3)
                    .map(json_text), PART)
SUBMISSION = st.fixed_dictionaries({}, optional={
    "workflowInputs": INPUTS, "workflowOptions": OPTIONS, "labels": LABELS,
    "workflowOnHold": st.one_of(st.sampled_from(["true", "false"]), FIELD),
    "requestedWorkflowId": st.one_of(FIELD, st.uuids().map(str)), "workflowType": st.one_of(st.just("WDL"), FIELD),
    "workflowTypeVersion": st.one_of(st.just("1.0"), FIELD), "workflowInputs_1": INPUTS,
    "workflowSource": st.one_of(st.binary(max_size=80), TEXT.map(lambda t: HELLO.replace(b"world", t.encode(
        "utf-8", "surrogatepass")))),
})


def assert_runs_whole(before: int, response) -> None:
    """A refused request wrote no run; every run there is has all its label rows and its audit event."""
    assert response.status_code < 500, response.content[:2000]
    if response.status_code >= 400:
        assert Run.objects.count() == before
    for run in Run.objects.all():
        assert dict(RunLabel.objects.filter(run=run).values_list("key", "value")) == run.labels
        assert AuditEvent.objects.filter(target=f"run {run.pk}").exists()


@pytest.fixture
def api_ready(alice_auth, team):
    """Alice's headers, her team's limits small enough for generated values to reach them."""
    from teams.models import Team

    Team.objects.filter(pk=team.pk).update(max_labels_per_run=3, max_input_bytes_per_value=300,
                                           max_input_bytes_per_run=2000, max_runs_per_batch=4, max_queued_runs=400)
    return alice_auth


def test_no_api_submission_is_a_500_or_a_half_written_run(client, api_ready):
    @given(parts=SUBMISSION, batch=st.booleans())
    @BUDGET
    def submission(parts, batch):
        data = {"workflowSource": upload(HELLO, "hello.wdl")}
        data.update({name: upload(value, f"{name}.json") if isinstance(value, bytes) else value
                     for name, value in parts.items()})
        before = Run.objects.count()
        response = client.post("/api/workflows/v1/batch" if batch else "/api/workflows/v1", data, **api_ready)
        assert response["Content-Type"] == "application/json"
        assert_runs_whole(before, response)

    submission()


def test_no_labels_patch_or_query_body_is_a_500(client, api_ready):
    run_id = client.post("/api/workflows/v1", {"workflowSource": upload(HELLO, "hello.wdl"), "workflowOnHold": "true"},
                         **api_ready).json()["id"]

    @given(body=PART, query=st.lists(st.tuples(
        st.one_of(st.sampled_from(["label", "labelor", "excludeLabelAnd", "page", "pageSize", "id", "status",
                                   "submission", "name"]), FIELD), FIELD), max_size=5))
    @BUDGET
    def bodies(body, query):
        before = Run.objects.count()
        patch = client.patch(f"/api/workflows/v1/{run_id}/labels", body, content_type="application/json", **api_ready)
        assert_runs_whole(before, patch)
        posted = client.post("/api/workflows/v1/query", body, content_type="application/json", **api_ready)
        assert posted.status_code < 500, posted.content[:2000]
        found = client.get("/api/workflows/v1/query", query, **api_ready)
        assert found.status_code < 500 and found["Content-Type"] == "application/json", found.content[:2000]

    bodies()


def test_no_launch_form_is_a_500_or_a_half_written_run(client, api_ready, alice, project):
    workflow = hello_workflow(project, alice)
    url = reverse("workflows:launch", args=[workflow.pk])
    client.force_login(alice)
    fields = ["hello.n", "hello.ratio", "hello.loud", "hello.who", "hello.reference", "hello.tags", "hello.counts",
              "hello.sample", "hello.greet.punct", "aws_batch_job_role_arn", "aws_batch_script_bucket_prefix", "labels"]

    @given(form=st.fixed_dictionaries({}, optional={name: FIELD for name in fields}),
           inputs_file=st.one_of(st.none(), PART))
    @BUDGET
    def launch(form, inputs_file):
        data = {"hello.n": "3", **form}
        if inputs_file is not None:
            data["inputs_file"] = upload(inputs_file, "inputs.json")
        before = Run.objects.count()
        response = client.post(url, data)
        assert_runs_whole(before, response)
        assert Run.objects.count() == before + (response.status_code == 302)

    launch()
