"""Fixtures of the API tests: tokens for the fixed users, and HTTP Basic headers."""
import base64
import gzip
import io
import json

import pytest

from teams.services import api_token_create

HELLO = b"""version 1.0
workflow hello {
  input { String who = "world" }
  call greet { input: who = who }
  output { String greeting = greet.out  File log = greet.log }
}
task greet {
  input { String who }
  command <<< echo "Hello, ~{who}!" | tee greeting.txt; echo "to stderr" >&2 >>>
  output { String out = read_string("greeting.txt")  File log = "greeting.txt" }
  runtime { docker: "ubuntu:22.04"  cpu: 1 }
}
"""


def basic(username: str, secret: str) -> dict:
    """Return Django test client headers for HTTP Basic username:secret."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()}


@pytest.fixture
def alice_auth(alice, team, project):
    return basic("alice", api_token_create(user=alice, name="test")[1])


@pytest.fixture
def bob_auth(bob, team, project):
    return basic("bob", api_token_create(user=bob, name="test")[1])


@pytest.fixture
def carol_auth(carol, other_team):
    return basic("carol", api_token_create(user=carol, name="test")[1])


def upload(content, name: str):
    """Return a file part for the test client's multipart encoding."""
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    part = io.BytesIO(data)
    part.name = name
    return part


def submit(client, headers, wdl: bytes = HELLO, inputs=None, url="/api/workflows/v1", **parts):
    """POST a Cromwell submission with file parts, as cromshell and cromwell-tools send it."""
    data = {"workflowSource": upload(wdl, "hello.wdl")}
    if inputs is not None:
        data["workflowInputs"] = upload(inputs, "inputs.json")
    data.update(parts)
    return client.post(url, data, **headers)


def json_body(response):
    """Return the JSON of a response, streamed (metadata) or not, gzip-compressed or not."""
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return json.loads(data)
