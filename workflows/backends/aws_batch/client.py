"""boto3 errors as Batchsite sees them: what may succeed if tried again, and error codes; queue lookups."""
import contextlib
import logging

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from workflows.backends.base import TransientBackendError

log = logging.getLogger(__name__)
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




def queue_capacity(batch, queue: str) -> str:
    """Return "spot" when the job queue's first compute environment runs on Spot, else "on-demand"."""
    try:
        with aws_call("describing the job queue"):
            queues = batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
            order = sorted(queues[0]["computeEnvironmentOrder"], key=lambda o: o["order"]) if queues else []
            environments = batch.describe_compute_environments(
                computeEnvironments=[order[0]["computeEnvironment"]])["computeEnvironments"] if order else []
    except ClientError as exc:  # pricing must not stop jobs (a role without Describe* rights)
        log.warning("cannot tell whether job queue %s runs on Spot (%s): priced as on-demand", queue, exc)
        return "on-demand"
    kind = (environments[0].get("computeResources") or {}).get("type", "") if environments else ""
    return "spot" if kind in ("SPOT", "FARGATE_SPOT") else "on-demand"
