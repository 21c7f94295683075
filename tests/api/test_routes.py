"""Every route with a workflow id: outsiders get 404, malformed ids 400, unknown ids 404."""
import uuid
from pathlib import Path

import pytest

from teams.services import project_create
from tests.api.conftest import HELLO, submit
from tests.workflows.ui_factories import make_calls
from workflows.models import Run

ROUTES = [
    ("get", "status"), ("get", "outputs"), ("get", "logs"), ("get", "labels"), ("patch", "labels"),
    ("get", "metadata"), ("get", "metadata/failed-jobs"), ("get", "timing"), ("post", "abort"),
    ("post", "releaseHold"), ("get", "calls/1/log"),
]


def _call(client, method, path, headers):
    if method == "patch":
        return client.patch(path, '{"a": "b"}', content_type="application/json", **headers)
    return getattr(client, method)(path, **headers)


@pytest.fixture
def alices_run(client, alice_auth):
    response = submit(client, alice_auth, HELLO, workflowOnHold="true")
    assert response.status_code == 201, response.content
    return Run.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("method, route", ROUTES)
def test_an_outsider_gets_404_for_another_teams_run(client, alices_run, carol_auth, method, route):
    response = _call(client, method, f"/api/workflows/v1/{alices_run.pk}/{route}", carol_auth)
    assert response.status_code == 404
    assert response.json() == {"status": "fail", "message": f"Unrecognized workflow ID: {alices_run.pk}"}
    alices_run.refresh_from_db()
    assert alices_run.status == Run.Status.ON_HOLD and alices_run.labels == {}


@pytest.mark.parametrize("method, route", ROUTES)
def test_a_malformed_id_gets_400(client, alice_auth, method, route):
    response = _call(client, method, f"/api/workflows/v1/not-a-uuid/{route}", alice_auth)
    assert response.status_code == 400
    assert response.json() == {"status": "fail", "message": "Invalid workflow ID: 'not-a-uuid'."}


@pytest.mark.parametrize("method, route", ROUTES)
def test_an_unknown_id_gets_404(client, alice_auth, method, route):
    unknown = uuid.uuid4()
    response = _call(client, method, f"/api/workflows/v1/{unknown}/{route}", alice_auth)
    assert response.status_code == 404
    assert response.json()["message"] == f"Unrecognized workflow ID: {unknown}"


@pytest.mark.parametrize("method, route", ROUTES)
def test_every_route_needs_a_token(client, alices_run, method, route):
    response = _call(client, method, f"/api/workflows/v1/{alices_run.pk}/{route}", {})
    assert response.status_code == 401


@pytest.mark.parametrize("method, route", [("post", "abort"), ("post", "releaseHold"), ("patch", "labels")])
def test_a_viewer_may_look_but_not_act(client, alices_run, bob_auth, method, route):
    assert client.get(f"/api/workflows/v1/{alices_run.pk}/status", **bob_auth).status_code == 200
    response = _call(client, method, f"/api/workflows/v1/{alices_run.pk}/{route}", bob_auth)
    assert response.status_code == 403
    alices_run.refresh_from_db()
    assert alices_run.status == Run.Status.ON_HOLD


def test_the_wrong_method_gets_405_json(client, alice_auth):
    response = client.delete("/api/workflows/v1/backends", **alice_auth)
    assert response.status_code == 405
    assert response.json()["status"] == "fail"


def test_an_unknown_api_path_gets_404_json(client, alice_auth):
    response = client.get("/api/workflows/v1/x/y/z", **alice_auth)
    assert response.status_code == 404
    assert response.json()["status"] == "fail"


def test_a_call_of_another_teams_run_is_404_through_ones_own_run_id(client, alices_run, alice_auth, carol_auth,
                                                                     other_team):
    make_calls(alices_run, 1)
    call = alices_run.calls.get()
    stdout = Path(call.call_dir) / "execution" / "stdout"
    stdout.parent.mkdir(parents=True)
    stdout.write_text("alice's results\n")
    project_create(team=other_team, name="Carol's", slug="carols")
    carols_run = submit(client, carol_auth, HELLO, workflowOnHold="true").json()["id"]

    response = client.get(f"/api/workflows/v1/{carols_run}/calls/{call.pk}/log", **carol_auth)
    assert response.status_code == 404
    assert response.json() == {"status": "fail", "message": f"Unrecognized call {call.pk} of workflow {carols_run}"}
    mine = client.get(f"/api/workflows/v1/{alices_run.pk}/calls/{call.pk}/log", **alice_auth)
    assert mine.status_code == 200 and mine.content.decode() == "alice's results\n"


def test_a_wrong_method_is_cromwells_405_naming_the_allowed_ones(client, alices_run, alice_auth):
    response = client.put(f"/api/workflows/v1/{alices_run.pk}/labels", **alice_auth)
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD, PATCH"
    assert response.json() == {"status": "fail", "message": "HTTP method not allowed, supported methods: GET, HEAD, PATCH"}


def test_head_reaches_every_get_route(client, alices_run, alice_auth, carol_auth):
    assert client.head(f"/api/workflows/v1/{alices_run.pk}/status", **alice_auth).status_code == 200
    assert client.head(f"/api/workflows/v1/{alices_run.pk}/status", **carol_auth).status_code == 404
    assert client.head("/engine/v1/version").status_code == 200


def test_errors_raised_before_any_api_view_are_json_too(client, alice_auth):
    from django.test import Client

    bad_host = Client(HTTP_HOST="evil.example").get("/api/workflows/v1/backends", **alice_auth)
    assert bad_host.status_code == 400 and bad_host.json()["status"] == "fail"
    unknown = client.get("/engine/v2/nothing")
    assert unknown.status_code == 404 and unknown.json()["message"] == "No API route /engine/v2/nothing: see " \
                                                                      "/api/openapi.json"


def test_a_request_body_over_djangos_limit_is_a_json_413(client, alice_auth, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post("/api/workflows/v1", {"workflowSource": "x" * 200}, **alice_auth)
    assert response.status_code == 413 and response.json()["status"] == "fail"


def test_a_browser_session_reads_but_never_writes(client, alices_run, alice, carol):
    client.force_login(alice)
    assert client.get(f"/api/workflows/v1/{alices_run.pk}/status").json()["status"] == "On Hold"
    response = client.post(f"/api/workflows/v1/{alices_run.pk}/abort")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Basic")
    alices_run.refresh_from_db()
    assert alices_run.status == Run.Status.ON_HOLD
    client.force_login(carol)
    assert client.get(f"/api/workflows/v1/{alices_run.pk}/status").status_code == 404
