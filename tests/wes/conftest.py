"""Fixtures of the WES tests: tokens for the fixed users, attached WDL, and multipart RunRequests."""
import json

import urllib3

from tests.api.conftest import alice_auth, basic, bob_auth, carol_auth

__all__ = ["alice_auth", "basic", "bob_auth", "carol_auth"]  # the fixed users' tokens, as fixtures here too

WES = "/api/ga4gh/wes/v1"
MAIN = b"""version 1.0
import "lib/greet.wdl" as lib
workflow hello {
  input { String who = "world" }
  call lib.greet { input: who = who }
  output { String greeting = greet.out }
}
"""
GREET = b"""version 1.0
task greet {
  input { String who }
  command <<< echo "Hello, ~{who}!"; echo "to stderr" >&2 >>>
  output { String out = read_string(stdout()) }
}
"""
SLEEPER = b"""version 1.0
workflow sleeper {
  call nap
}
task nap {
  command <<< sleep 60 >>>
}
"""
ATTACHED = {"main.wdl": MAIN, "lib/greet.wdl": GREET}


def run_request(files=None, *, url="main.wdl", params=None, extra=(), **fields) -> list:
    """Return the parts of a RunRequest: text fields, then one workflow_attachment per file (with its folders)."""
    parts = {"workflow_type": "WDL", "workflow_type_version": "1.0", "workflow_url": url,
             "workflow_params": json.dumps(params if params is not None else {"hello.who": "Ada"})}
    parts.update({name: value if value is None or isinstance(value, str) else json.dumps(value)
                  for name, value in fields.items()})
    files = ATTACHED if files is None else files
    return [*((k, v) for k, v in parts.items() if v is not None),
            *(("workflow_attachment", (name, data)) for name, data in files.items()), *extra]


def wes_post(client, headers, parts):
    """POST a RunRequest to /runs, encoded as requests and wes-client encode it (filenames keep folders)."""
    body, content_type = urllib3.encode_multipart_formdata(parts)
    return client.post(f"{WES}/runs", body, content_type=content_type, **headers)
