"""moto's server on a free loopback port, with Batch's docker support off (no engine here)."""
import json
import logging
import urllib.request

from moto.batch import models as batch_models
from moto.server import ThreadedMotoServer


def fix_moto() -> None:
    """Make moto 5.2.5 describe a job from a copy of its environment overrides.

    moto appends AWS_BATCH_JOB_ID to the containerOverrides environment list, which every child
    of an array job shares, on every DescribeJobs: each answer is longer than the last (about a
    second a call at 2,000 shards), which Batch does not do.
    """
    describe_property = batch_models.Job._get_container_property
    if getattr(describe_property, "fixed", False):
        return

    def _get_container_property(self, name, default):
        shared = self.container_overrides
        self.container_overrides = {**shared, "environment": list(shared.get("environment", []))}
        try:
            return describe_property(self, name, default)
        finally:
            self.container_overrides = shared

    _get_container_property.fixed = True
    batch_models.Job._get_container_property = _get_container_property


class MotoServer:
    """One moto server for this process (each xdist worker starts its own)."""

    def __init__(self):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        fix_moto()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # Kept across /moto-api/reset: with docker on, every Batch job would FAIL here.
        self._post("/moto-api/config", {"batch": {"use_docker": False}})

    def reset(self) -> None:
        """Forget every bucket, queue, job and log (what one test made must not leak into the next)."""
        self._post("/moto-api/reset", {})

    def stop(self) -> None:
        self._server.stop()

    def _post(self, path: str, payload: dict) -> None:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()
