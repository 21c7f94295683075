"""Property-based tests of WES against its generated OpenAPI document: no 500, no answer off the document.

schemathesis generates requests for every operation of /api/ga4gh/wes/v1/openapi.json and calls the
Django app in process as alice, with real run and task ids mixed in.
"""
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teams.services import api_token_create
from tests.api.test_schemathesis import CHECKS
from tests.runs import Eager
from tests.wes.conftest import WES, basic


@pytest.fixture
def wes_schema(db, alice, team, project):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # as Django's test client does: the test's transaction must outlive each request
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(f"{WES}/openapi.json", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_wes_keeps_to_its_openapi_document(wes_schema, alice, project):
    from tests.api.conftest import HELLO
    from tests.runs import drive, submit

    with Eager():
        run = drive(submit(project, alice, HELLO.decode(), {"hello.who": "schemathesis"}, name="hello"))
    call = run.calls.get()
    headers = {"Authorization": basic("alice", api_token_create(user=alice, name="st")[1])["HTTP_AUTHORIZATION"]}
    operations = [result.ok() for result in wes_schema.get_all_operations()]
    assert len(operations) == 8

    def real_ids(case):
        case.path_parameters = {**case.path_parameters, "run_id": str(run.pk)}
        if "task_id" in case.path_parameters:
            case.path_parameters["task_id"] = str(call.pk)
        return case

    for operation in operations:
        strategy = operation.as_strategy()
        if "{run_id}" in operation.path:
            strategy = st.one_of(strategy, strategy.map(real_ids))

        @given(case=strategy)
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def keeps_to_the_document(case):
            with Eager():
                response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        keeps_to_the_document()
