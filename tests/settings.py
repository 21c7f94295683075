"""Test settings: PostgreSQL and Redis always (never SQLite), files under a fresh temp dir."""
import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/batchsite")
# One Redis database and one var dir per xdist worker, so parallel tests with real Celery workers
# never share a queue. Worker processes inherit the controller's environment: override, don't default.
# BATCHSITE_TEST_REDIS names another server, so that two checkouts can run their suites at once.
_redis = os.environ.get("BATCHSITE_TEST_REDIS", "redis://127.0.0.1:6379").rstrip("/")
_xdist = os.environ.get("PYTEST_XDIST_WORKER")
if _xdist:
    os.environ["REDIS_URL"] = f"{_redis}/{15 - int(_xdist.removeprefix('gw')) % 12}"
    os.environ["BATCHSITE_VAR_DIR"] = tempfile.mkdtemp(prefix=f"batchsite-test-{_xdist}-")
os.environ.setdefault("REDIS_URL", f"{_redis}/15")
os.environ.setdefault("BATCHSITE_VAR_DIR", tempfile.mkdtemp(prefix="batchsite-test-"))
os.environ["BATCHSITE_PLAIN_STATIC"] = "1"

from batchsite.settings import *  # noqa: E402,F403

assert DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql", "tests run on PostgreSQL only"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests take File inputs from their temporary folders and the checkout's test data.
BATCHSITE_INPUT_PATHS = [tempfile.gettempdir(), str(BASE_DIR / "tests")]  # noqa: F405
