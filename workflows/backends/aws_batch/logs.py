"""Job logs on AWS Batch: the archived copy in S3 once a job ended, its CloudWatch stream until then."""
from botocore.exceptions import ClientError

from .attributes import DEFAULT_LOG_GROUP
from .client import aws_call, error_code
from .workspace import split_uri

LOG_CHUNK = 256 * 1024


def log_location(detail: dict) -> tuple[str, str]:
    """Return the CloudWatch (log group, log stream) of a described job; the stream is "" before it starts."""
    container = detail.get("container", {})
    options = container.get("logConfiguration", {}).get("options", {})
    return options.get("awslogs-group", DEFAULT_LOG_GROUP), container.get("logStreamName", "")


class JobLogs:
    """The log side of AwsBatchBackend (which provides s3, logs, _describe, _get, _lock and _streams)."""

    def read_log(self, handle: str, call_dir: str, stream: str, offset: int | str = 0) -> tuple[str, int | str]:
        if isinstance(offset, int):
            data = self._get(f"{call_dir}/execution/{stream}", f"bytes={offset}-{offset + LOG_CHUNK - 1}")
            if data is not None or stream != "log":
                return (data or b"").decode("utf-8", errors="replace"), offset + len(data or b"")
        # The job's log is archived when it ends; until then, tail its CloudWatch stream.
        group, log_stream = self._log_location(handle)
        if not log_stream:
            return "", offset
        request = {"logGroupName": group, "logStreamName": log_stream, "startFromHead": True}
        if isinstance(offset, str):
            request["nextToken"] = offset
        try:
            with aws_call("reading the job's log"):
                page = self.logs.get_log_events(**request)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return "", offset
            raise
        return "".join(e["message"] + "\n" for e in page["events"]), page["nextForwardToken"]

    def _log_location(self, handle: str) -> tuple[str, str]:
        if handle not in self._streams:
            location = log_location(self._describe([handle]).get(handle) or {})
            if not location[1]:
                return location
            with self._lock:
                self._streams[handle] = location
                while len(self._streams) > 10_000:
                    self._streams.popitem(last=False)
        return self._streams[handle]

    def _archive_log(self, group: str, log_stream: str, call_dir: str) -> None:
        """Keep the log of a job that died before archiving it itself (killed, out of memory)."""
        lines, token = [], None
        with aws_call("archiving the job's log"):
            try:
                while True:
                    request = {"logGroupName": group, "logStreamName": log_stream, "startFromHead": True}
                    page = self.logs.get_log_events(**request, **({"nextToken": token} if token else {}))
                    lines += [e["message"] + "\n" for e in page["events"]]
                    if not page["events"] or page["nextForwardToken"] == token:
                        break
                    token = page["nextForwardToken"]
            except ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
            if lines and self._get(f"{call_dir}/execution/log", "bytes=0-0") is None:
                bucket, key = split_uri(f"{call_dir}/execution/log")
                self.s3.put_object(Bucket=bucket, Key=key, Body="".join(lines).encode())

