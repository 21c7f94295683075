"""Label filters and paging of the query: the same JSON answers on PostgreSQL and on SQLite (`make run`)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import HELLO, submit, upload
from workflows.api.query import PAGE_SIZE_MAX
from workflows.models import RunLabel

# (query parameters, the samples found)
CASES = [
    ([["label", "batch:b1"]], ["s0", "s1"]),
    ([["label", "batch:b1"], ["label", "sample:s1"]], ["s1"]),
    ([["labelor", "sample:s0"], ["labelor", "sample:s2"]], ["s0", "s2"]),
    ([["excludeLabelAnd", "batch:b1"], ["excludeLabelAnd", "sample:s0"]], ["s1", "s2"]),
    ([["excludeLabelOr", "sample:s0"], ["excludeLabelOr", "batch:b2"]], ["s1"]),
    ([["label", "batch:nope"]], []),
    ([["label", "sample:s1"], ["labelor", "batch:b1"], ["excludeLabelOr", "sample:s0"]], ["s1"]),
]


@pytest.fixture
def labelled(client, alice_auth):
    for sample, batch in (("s0", "b1"), ("s1", "b1"), ("s2", "b2")):
        response = submit(client, alice_auth, HELLO, workflowOnHold="true",
                          labels=upload({"sample": sample, "batch": batch}, "l.json"))
        assert response.status_code == 201


def samples(response) -> list[str]:
    return sorted(r["labels"]["sample"] for r in response.json()["results"])


@pytest.mark.parametrize("params, expected", CASES)
def test_label_filters_on_postgresql(client, alice_auth, labelled, params, expected):
    response = client.get("/api/workflows/v1/query", [*params, ["additionalQueryResultFields", "labels"]], **alice_auth)
    assert response.status_code == 200 and samples(response) == expected
    assert response.json()["totalResultsCount"] == len(expected)


def test_label_filters_on_sqlite_answer_json_as_on_postgresql(tmp_path):
    script = Path(__file__).with_name("sqlite_queries.py")
    done = subprocess.run([sys.executable, str(script), str(tmp_path), json.dumps([p for p, _ in CASES])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    for (params, expected), answer in zip(CASES, answers):
        assert answer == {"status": 200, "json": True, "samples": expected, "total": len(expected)}, params
    assert answers[-1] == {"status": 200, "samples": ["s0", "s1"]}  # the run list's label filter


def test_a_patched_label_is_found_by_the_query(client, alice_auth, labelled):
    run_id = client.get("/api/workflows/v1/query", {"label": "sample:s2"}, **alice_auth).json()["results"][0]["id"]
    response = client.patch(f"/api/workflows/v1/{run_id}/labels", '{"batch": "b1", "flag": ""}',
                            content_type="application/json", **alice_auth)
    assert response.status_code == 200
    found = client.get("/api/workflows/v1/query", [["label", "batch:b1"], ["label", "flag:"],
                                                   ["additionalQueryResultFields", "labels"]], **alice_auth)
    assert samples(found) == ["s2"]
    assert RunLabel.objects.filter(run_id=run_id).count() == 3


def test_the_query_pages_with_cromwells_page_and_page_size(client, alice_auth, labelled):
    first = client.get("/api/workflows/v1/query", {"pageSize": "2"}, **alice_auth).json()
    second = client.get("/api/workflows/v1/query", {"pageSize": "2", "page": "2"}, **alice_auth).json()
    assert (len(first["results"]), len(second["results"])) == (2, 1)
    assert first["totalResultsCount"] == second["totalResultsCount"] == 3
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    beyond = client.get("/api/workflows/v1/query", {"pageSize": "2", "page": "9"}, **alice_auth).json()
    assert beyond == {"results": [], "totalResultsCount": 3}


@pytest.mark.parametrize("params, problem", [
    ({"pageSize": str(PAGE_SIZE_MAX + 1)}, f"pageSize must be at most {PAGE_SIZE_MAX:,}"),
    ({"page": "99999999999999999999999"}, "page must be a positive integer"),
    ({"page": "²"}, "page must be a positive integer"),
    ({"label": "k" * 300 + ":v"}, "at most 255 characters"),
    ({"name": "x" * 2000}, "The value of name is 2,000 characters"),
    ({"labelor": ["a:b"] * 101}, "At most 100 label filters"),
    ({"submission": "9999-12-31T23:59:59-12:00"}, "does not parse as a datetime for submission"),
])
def test_out_of_range_and_over_long_query_values_are_400_naming_the_key(client, alice_auth, params, problem):
    response = client.get("/api/workflows/v1/query", params, **alice_auth)
    assert response.status_code == 400 and problem in response.json()["message"]


@pytest.mark.parametrize("when", ["0368-02-28T14:01:53.696500+18:24", "2026-11-27T10:00:00-23:59"])
def test_a_time_with_an_offset_postgresql_cannot_store_is_taken_in_utc(client, alice_auth, labelled, when):
    body = client.get("/api/workflows/v1/query", {"start": when}, **alice_auth).json()
    assert "results" in body


def test_a_query_without_page_size_gets_at_most_one_page(client, alice_auth, labelled, monkeypatch):
    import workflows.api.query as query

    monkeypatch.setattr(query, "PAGE_SIZE_MAX", 2)  # the largest page is also the page of a client naming none
    body = client.get("/api/workflows/v1/query", **alice_auth).json()
    assert len(body["results"]) == 2 and body["totalResultsCount"] == 3


def test_an_outsider_finds_no_run_by_label(client, carol_auth, labelled):
    body = client.get("/api/workflows/v1/query", {"label": "batch:b1"}, **carol_auth).json()
    assert body == {"results": [], "totalResultsCount": 0}
