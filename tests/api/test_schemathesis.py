"""Property-based tests of the API against its own OpenAPI document: no 500, no response off the schema.

schemathesis generates requests for every operation in /api/openapi.json (bounded examples, no
deadline) and calls the Django app in process as an authenticated member of a team.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance,
)

from teams.services import api_token_create
from tests.api.conftest import basic
from tests.runs import Eager

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(db, alice, team, project):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # as Django's test client does: the test's transaction must outlive each request
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def alice_headers(alice):
    header = basic("alice", api_token_create(user=alice, name="schemathesis")[1])["HTTP_AUTHORIZATION"]
    # schemathesis sends requests' Accept-Encoding: gzip, but its WSGI transport does not decompress;
    # the gzip answers themselves are tested in test_metadata.py
    return {"Authorization": header, "Accept-Encoding": "identity"}


@pytest.fixture
def finished_run(alice, project):
    """A run that ran, so generated requests also reach real runs and calls, not only unknown ids."""
    from tests.api.conftest import HELLO
    from tests.runs import drive, submit

    with Eager():
        return drive(submit(project, alice, HELLO.decode(), {"hello.who": "schemathesis"}, name="hello"))


def test_the_api_keeps_to_its_openapi_document(api_schema, alice_headers, finished_run):
    # one Hypothesis run per operation (schemathesis' pytest plugin does not load under pytest 9)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 21  # with GET {id}/cost and GET callcaching/diff
    call = finished_run.calls.get()

    def real_ids(case):
        case.path_parameters = {**case.path_parameters, "id": str(finished_run.pk)}
        if "call" in case.path_parameters:
            case.path_parameters["call"] = str(call.pk)
        return case

    for operation in operations:
        strategy = operation.as_strategy()
        if "{id}" in operation.path:
            strategy = st.one_of(strategy, strategy.map(real_ids))

        # The engine status is a health check: 500 is its documented answer while no worker runs (here).
        checks = CHECKS[1:] if operation.path == "/engine/v1/status" else CHECKS

        @given(case=strategy)
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_to_the_document(case):
            with Eager():  # tasks run in place
                response = case.call(headers=alice_headers)
            case.validate_response(response, checks=checks)

        keeps_to_the_document()
