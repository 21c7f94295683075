"""The local side of a call on AWS Batch: where the engine evaluates it, and how paths map.

One rule maps every file three ways: s3://<bucket>/<key> is <mirror>/<bucket>/<key> on this
host and <container-root>/<bucket>/<key> in the job, the call's own execution directory included.
"""
import os
import re
import shutil
import tempfile

from botocore.exceptions import ClientError

from workflows.backends.base import StagedFile

# Files bigger than this are not downloaded ahead to evaluate outputs: a sparse file of the same
# size stands in (enough for existence, size() and glob()) until a read_*() asks for it (localize).
FETCH_LIMIT = 64 * 1024 * 1024
GET_LIMIT = 8 * 1024 * 1024  # smaller files are fetched with a plain GetObject, bigger in parts
# A path in some workspace's mirror (an earlier prepare, maybe in another process) names the
# S3 object it mirrors: the job uploaded its execution directory, write_*() files included.
_MIRRORED = re.compile(r"/batchsite-aws-[a-z0-9_]+/([^/]+/.+)$")


def split_uri(uri: str) -> tuple[str, str]:
    """Return (bucket, key) of an s3:// URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


class S3Workspace:
    """A scratch mirror of one call's execution directory (see base.Workspace)."""

    def __init__(self, s3, call_dir: str, container_root: str):
        self.s3 = s3
        self.mirror = tempfile.mkdtemp(prefix="batchsite-aws-")
        self.container_root = container_root
        self.work_dir = self._local(f"{call_dir}/execution")
        self.stdout = f"{self.work_dir}/stdout"
        self.stderr = f"{self.work_dir}/stderr"
        self.execution_uri = f"{call_dir}/execution"
        self._seen: dict[str, str] = {}  # host path or URI -> job path
        self._stand_ins: dict[str, str] = {}  # local path -> URI of the big output it stands in for

    def close(self) -> None:
        shutil.rmtree(self.mirror, ignore_errors=True)

    def _local(self, uri: str) -> str:
        return os.path.join(self.mirror, uri.removeprefix("s3://"))

    def _uri(self, path: str) -> str | None:
        """Return the s3:// URI a local path mirrors, or None."""
        if path.startswith("s3://"):
            return path
        if path.startswith(self.mirror + "/"):
            return "s3://" + path[len(self.mirror) + 1:]
        match = _MIRRORED.search(path)
        return f"s3://{match.group(1)}" if match else None

    def job_path(self, path: str) -> str:
        uri = self._uri(path)
        if uri is None:
            raise ValueError(f"{path} is not in S3: a job on AWS Batch can be given only s3:// files")
        self._seen[path] = f"{self.container_root}/{uri.removeprefix('s3://')}"
        return self._seen[path]

    def stored_path(self, path: str) -> str:
        return self._uri(path) or path

    def localize(self, uri: str) -> str:
        if uri in self._stand_ins:
            return self._download(self._stand_ins.pop(uri), uri)
        if "://" not in uri:
            return uri
        if not uri.startswith("s3://"):
            raise OSError(f"cannot read {uri}: the AWS Batch backend reads only s3:// files")
        local = self._local(uri)
        if not os.path.exists(local):
            self._download(uri, local)
        return local

    def _download(self, uri: str, local: str) -> str:
        bucket, key = split_uri(uri)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        try:
            self.s3.download_file(bucket, key, local)
        except ClientError as exc:  # the engine reports an OSError as the expression's error
            raise OSError(f"cannot read {uri}: {exc.response.get('Error', {}).get('Message') or exc}") from exc
        return local

    def staged(self) -> tuple[StagedFile, ...]:
        files = []
        for path, job_path in self._seen.items():
            if path.startswith(self.mirror + "/") and os.path.isfile(path):
                with open(path, "rb") as f:  # a write_*() file the call's own declarations made just now
                    files.append(StagedFile(job_path=job_path, content=f.read()))
            else:
                files.append(StagedFile(job_path=job_path, uri=self._uri(path)))
        return tuple(files)

    def fetch_execution(self) -> None:
        """Download what the job left in its execution directory (its log aside)."""
        bucket, key = split_uri(self.execution_uri)
        prefix = key + "/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix):]
                if not name or name.endswith("/") or name in ("log", "script"):
                    continue
                local = os.path.join(self.work_dir, name)
                os.makedirs(os.path.dirname(local), exist_ok=True)
                if item["Size"] > FETCH_LIMIT:
                    with open(local, "wb") as f:
                        f.truncate(item["Size"])
                    self._stand_ins[local] = f"s3://{bucket}/{item['Key']}"
                elif item["Size"] > GET_LIMIT:
                    self.s3.download_file(bucket, item["Key"], local)
                else:  # one GET: download_file would HEAD the object first
                    with open(local, "wb") as f:
                        shutil.copyfileobj(self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"], f)
