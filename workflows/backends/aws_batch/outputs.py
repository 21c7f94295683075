"""A run's output files in S3, for the browser: a ranged read for previews, a presigned URL for downloads."""
import io
from typing import BinaryIO
from urllib.parse import quote

from botocore.exceptions import ClientError

from .client import aws_call, error_code
from .workspace import split_uri

URL_SECONDS = 120  # a download link is followed at once: it need not outlive the redirect by much


class OutputFiles:
    """The output side of AwsBatchBackend (which provides s3)."""

    def output_open(self, path: str, *, under: str, length: int | None = None) -> tuple[BinaryIO, int]:
        bucket, key = _inside(path, under)
        extra = {"Range": f"bytes=0-{length - 1}"} if length else {}
        try:
            with aws_call(f"reading {path}"):
                reply = self.s3.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            if error_code(exc) == "InvalidRange":  # an empty object asked for a range
                return io.BytesIO(), 0
            raise _gone(exc, path) from None
        total = reply.get("ContentRange", "").rpartition("/")[2]
        return reply["Body"], int(total) if total.isdigit() else reply["ContentLength"]

    def output_url(self, path: str, *, under: str, filename: str) -> str | None:
        bucket, key = _inside(path, under)
        self._size(bucket, key)  # a deleted file says so here, not as S3's XML error in the browser
        # RFC 6266: an ASCII name for old clients, the real one (percent-encoded UTF-8) for the rest
        fallback = filename.encode("ascii", "replace").decode().replace('"', "").replace("\\", "")
        disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
        return self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key, "ResponseContentDisposition": disposition},
            ExpiresIn=URL_SECONDS)

    def _size(self, bucket: str, key: str) -> int:
        try:
            with aws_call(f"looking up s3://{bucket}/{key}"):
                return self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ClientError as exc:
            raise _gone(exc, f"s3://{bucket}/{key}") from None


def _inside(path: str, under: str) -> tuple[str, str]:
    """Return the bucket and key of path, an s3:// URI in the run's directory; raise OSError otherwise."""
    parts = path.removeprefix("s3://").split("/")
    if not path.startswith(under.rstrip("/") + "/") or not under.startswith("s3://") or "." in parts or ".." in parts:
        raise OSError(f"{path} is not in the run's directory {under}")
    return split_uri(path)


def _gone(exc: ClientError, path: str) -> OSError:
    if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
        return FileNotFoundError(f"{path} does not exist")
    return OSError(f"{path} cannot be read: {error_code(exc) or exc}")

