"""The one miniwdl configuration the engine uses, and helpers shared by its modules."""
import functools
import logging
import re

from WDL.runtime import config as miniwdl_config_module
from WDL.runtime.cache import CallCache

# miniwdl logs every visited node and call at INFO/NOTICE, serialising values to JSON to do so;
# a Celery worker logging at INFO would pay for that on every step of a 10,000-shard scatter.
LOGGER_NAME = "workflows.engine.miniwdl"
logger = logging.getLogger(LOGGER_NAME)
logger.setLevel(logging.WARNING)

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@functools.cache
def miniwdl_config() -> miniwdl_config_module.Loader:
    """Return miniwdl's configuration with Batchsite's fixed settings, read from no file."""
    return miniwdl_config_module.Loader(logger, filenames=[], overrides={
        # ids like call-hello-2, not call-hello-2-sampleA: they become row keys and directory names
        "scheduler": {"scatter_tag_max": 0},
        # workflow-level reads only of inputs and outputs of the run's own calls
        "file_io": {"allow_any_input": False, "root": "/"},
        # no default docker image, and no clamping of cpu/memory to this host's size
        "task_runtime": {"defaults": {}, "cpu_max": -1, "memory_max": "-1"},
        "call_cache": {"get": False, "put": False},
        "download_cache": {"get": False, "put": False},
    })


@functools.cache
def call_cache() -> CallCache:
    """Return the (disabled) call cache that miniwdl's workflow stdlib requires."""
    return CallCache(miniwdl_config(), logger)


def is_uri(path: str) -> bool:
    """Tell whether a File value is a URI such as s3://bucket/key rather than a local path."""
    return bool(_URI.match(path))
