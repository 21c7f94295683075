"""boto3 errors as Batchsite sees them: what may succeed if tried again, and error codes."""
import contextlib

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from workflows.backends.base import TransientBackendError

THROTTLED = {"TooManyRequestsException", "ThrottlingException", "Throttling", "SlowDown", "RequestLimitExceeded"}


def throttled(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and (
        exc.response.get("Error", {}).get("Code") in THROTTLED
        or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429)


def transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        return throttled(exc) or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
    return isinstance(exc, (ConnectionError, HTTPClientError))


@contextlib.contextmanager
def aws_call(what: str):
    """Turn throttling and connection failures (after boto3's own retries) into TransientBackendError."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        if transient(exc):
            raise TransientBackendError(f"{what}: {exc}") from exc
        raise


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def chunks(items: list, size: int):
    return (items[i:i + size] for i in range(0, len(items), size))


