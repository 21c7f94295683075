"""A corpus of bad input against every URL pattern of the app (pages, forms and the API): never a 500.

Each route is called with real objects (a finished run and its call), with malformed ids, with bad query
parameters one by one and all at once, and with bad form, multipart and JSON bodies, by every method.
"""
import json
import re
import uuid
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from teams.models import AuditEvent
from teams.services import api_token_create
from tests.api.conftest import HELLO, basic, upload
from workflows.models import Run, RunLabel

BIG = "99999999999999999999999"
BAD_VALUES = ["\x00", BIG, "-1", "²", "x" * 3000, "9999-12-31T23:59:59-12:00", "", "null", "[", "%"]
PARAMS = ["page", "pageSize", "offset", "status", "call", "version", "q", "label", "since", "until", "sort", "workflow",
          "submitter", "includeKey", "excludeKey", "expandSubWorkflows", "stream", "format", "id", "name", "labelor",
          "excludeLabelAnd", "excludeLabelOr", "submission", "start", "end", "additionalQueryResultFields",
          "includeSubworkflows", "next", "page_size", "page_token"]
FORM_FIELDS = ["name", "description", "slug", "username", "password", "labels", "hello.who", "hello.n",
               "aws_batch_job_role_arn", "aws_batch_script_bucket_prefix", "version", "workflowOnHold",
               "requestedWorkflowId", "workflowType", "workflowTypeVersion", "workflowInputs", "workflowOptions",
               "workflow_url", "workflow_type", "workflow_type_version", "workflow_engine", "workflow_params"]
FILE_PARTS = ["source", "imports", "inputs_file", "workflowSource", "workflowInputs", "workflowOptions", "labels",
              "workflowDependencies", "workflowInputs_1", "workflow_attachment", "workflow_params", "tags",
              "workflow_engine_parameters"]
JSON_BODIES = [b'{"a": ' + b"[" * 5000, b'[{"label": "\\u0000"}]', b'{"k": "\\ud800"}', b"\xff\xfe\x00",
               b'{"k": ' + b"9" * 5000 + b"}", b'{"k": NaN}', b'{"' + b"k" * 300 + b'": "v"}', b"[]", b"{}"]
RAW_QUERIES = ["offset=%ED%A0%80", "page=%FF", "status=%00&call=%00", "label=%00%3A%00", "q=" + "%F0" * 50]


def routes():
    """Yield (route text, name) for every URL pattern of the app but Django's admin."""
    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern).startswith("admin/"):
                    continue
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield prefix + str(pattern.pattern), name
    return list(walk(get_resolver().url_patterns, "", ""))


@pytest.fixture
def world(alice, team, project, carol, other_team):
    """A finished run with a call, a workflow, and a token to revoke, for the routes' ids."""
    from tests.runs import Eager, drive, submit

    with Eager():
        run = drive(submit(project, alice, HELLO.decode(), {"hello.who": "corpus"}, name="hello"))
    RunLabel.objects.create(run=run, key="sample", value="s1")
    Run.objects.filter(pk=run.pk).update(labels={"sample": "s1"})
    spare, _ = api_token_create(user=alice, name="to revoke")
    return {"run": run, "call": run.calls.get(), "workflow": run.version.workflow, "spare_token": spare,
            "auth": basic("alice", api_token_create(user=alice, name="corpus")[1])}


def good_value(name: str, param: str, world) -> str:
    if param in ("team_slug", "slug"):
        return "genomics"
    if param == "project_slug":
        return "exomes"
    if param in ("run_id", "id") or (param == "pk" and name.startswith("workflows:run_")):
        return str(world["run"].pk)
    if param in ("call_pk", "call", "task_id") or (param == "pk" and name.startswith("workflows:call_")):
        return str(world["call"].pk)
    if param == "pk" and name == "token_revoke":
        return str(world["spare_token"].pk)
    if param == "pk":
        return str(world["workflow"].pk)
    if param == "rest":  # WES's catch-all
        return "nope"
    if param == "stream":
        return "stdout"
    if param == "version":
        return "v1"
    if param == "key":  # a run's output
        return next(iter(world["run"].outputs))
    if param in ("index", "number"):  # the first file of an output; a workflow's first version
        return "0" if param == "index" else "1"
    raise AssertionError(f"no value for {param} of {name}")


BAD_PATH_VALUES = {"int": ["0", "99999999999999999999"], "uuid": [str(uuid.UUID(int=1))], "slug": ["nope"],
                   "str": ["%00", "x" * 300, BIG], "segment": ["nope", "%00", BIG, str(uuid.UUID(int=1))],
                   "api_version": []}
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def urls_for(route: str, name: str, world) -> tuple[str, list[str]]:
    """Return the route with good values, and variants with one bad value each."""
    if route.startswith("^"):  # the API's catch-all
        return "/api/nope", ["/engine/%00", "/api/workflows/v2/query"]

    def fill(bad_param=None, bad_value=None):
        def value(match):
            param = match.group(2)
            return bad_value if param == bad_param else quote(good_value(name, param, world), safe="")
        return "/" + _PARAM.sub(value, route)

    bad = [fill(param, value) for converter, param in _PARAM.findall(route)
           for value in BAD_PATH_VALUES.get(converter or "str", [])]
    return fill(), bad


def test_no_route_answers_a_500_to_bad_input(world, alice, carol):
    from tests.runs import Eager

    with Eager():  # tasks run in place
        corpus(world, alice, carol)


def _health_answer(method: str, url: str, response) -> bool:
    """Tell whether a 500 is Cromwell's engine status saying only that no worker answered."""
    if not url.startswith("/engine/v1/status") or response.status_code != 500:
        return False
    if method == "HEAD":
        return True  # the same answer, without its body
    try:
        systems = json.loads(response.content)
    except ValueError:
        return False
    return systems.pop("Workers", {}).get("ok") is False and all(s["ok"] for s in systems.values())


def corpus(world, alice, carol):
    client = Client(raise_request_exception=False)
    failures = []

    def check(method: str, url: str, response, what: str = ""):
        if _health_answer(method, url, response):
            return  # the engine status is 500 by design while no worker answers (a health check)
        if response.status_code >= 500:
            failures.append(f"{method} {url[:120]} {what[:80]!r}: {response.status_code} {response.content[:200]!r}")

    multipart = {part: upload(b'\x00\xff{["' + b"\x00" * 10, f"{part}.json") for part in FILE_PARTS}
    bodies = [
        ("form NUL", {name: "\x00" for name in FORM_FIELDS}, None),
        ("form long", {name: "x" * 20_000 for name in FORM_FIELDS}, None),
        ("form numbers", {name: BIG for name in FORM_FIELDS}, None),
        ("multipart junk", multipart, None),
        ("multipart NUL source", {"workflowSource": upload(HELLO.replace(b"world", b"\x00"), "w.wdl"),
                                  "source": upload(HELLO.replace(b"world", b"\x00"), "w.wdl"), "name": "W"}, None),
        ("broken multipart", b"--xyz\r\ngarbage", "multipart/form-data; boundary=xyz"),
        *((f"json {body[:20]!r}", body, "application/json") for body in JSON_BODIES),
    ]
    for route, name in routes():
        url, bad_urls = urls_for(route, name, world)
        for user, headers in ((alice, world["auth"]), (alice, {}), (carol, {}), (None, {})):
            if user is None:
                client.logout()
            else:
                client.force_login(user)
            check("GET", url, client.get(url, **headers))
            for bad_url in bad_urls:
                check("GET", bad_url, client.get(bad_url, **headers))
                check("POST", bad_url, client.post(bad_url, **headers))
        client.force_login(alice)
        headers = world["auth"] if url.startswith(("/api/", "/engine/")) else {}
        for value in BAD_VALUES:
            query = urlencode({param: value for param in PARAMS})
            check("GET", f"{url}?{query}", client.get(f"{url}?{query}", **headers), value)
        for param in PARAMS:
            for value in ("\x00", BIG):
                check("GET", url, client.get(url, {param: value}, **headers), f"{param}={value[:20]}")
        for query in RAW_QUERIES:
            check("GET", f"{url}?{query}", client.get(f"{url}?{query}", **headers))
        for what, body, content_type in bodies:
            for method in ("post", "patch", "put"):
                if content_type is None and method != "post":
                    continue
                extra = {"content_type": content_type} if content_type else {}
                response = getattr(client, method)(url, body, **extra, **headers)
                check(method.upper(), url, response, what)
                if isinstance(body, dict):
                    for part in body.values():
                        if hasattr(part, "seek"):
                            part.seek(0)
            client.force_login(alice)  # a logout route may have ended the session
        check("DELETE", url, client.delete(url, **headers))
        check("HEAD", url, client.head(url, **headers))
        check("OPTIONS", url, client.options(url, **headers))

    assert not failures, "\n".join(failures[:40])
    for run in Run.objects.all():  # nothing half-written either
        assert dict(RunLabel.objects.filter(run=run).values_list("key", "value")) == run.labels
        assert AuditEvent.objects.filter(target=f"run {run.pk}").exists()


def test_the_corpus_reaches_every_route_of_the_app():
    names = {name for _, name in routes()}
    assert {"workflows:launch", "workflows:call_log_tail", "api:submit", "api:query", "api:labels", "api:call_log",
            "tokens", "token_revoke", "teams:audit", "login", "wes:service_info", "wes:list_runs", "wes:get_run_log",
            "wes:get_run_status", "wes:cancel_run", "wes:list_tasks", "wes:get_task"} <= names
    assert len(names) >= 35
