"""Housekeeping on AWS: stored scripts and run directories in S3, orphan jobs, unused job definitions."""
from datetime import date, timedelta
from typing import Mapping

from .client import aws_call, chunks
from .jobs import ENDED
from .workspace import split_uri

DELETE_MAX = 1000  # keys per DeleteObjects call


class Housekeeping:
    """The cleanup side of AwsBatchBackend (which provides s3, batch, _list_jobs, _describe, _lock,
    _stored and _definitions)."""

    def script_sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """Return {key: size} of every object under the prefix (ListObjectsV2, every page)."""
        sizes = {}
        with aws_call(f"listing s3://{bucket}/{prefix}"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                sizes.update((item["Key"], item["Size"]) for item in page.get("Contents", []))
        return sizes

    def delete_scripts(self, bucket: str, sizes: Mapping[str, int]) -> tuple[list[str], int, list[str]]:
        """Delete the objects ({key: size}) with DeleteObjects, 1,000 a call; return (deleted, bytes, errors)."""
        deleted, errors = [], []
        with aws_call(f"deleting objects in s3://{bucket}"):
            for chunk in chunks(sorted(sizes), DELETE_MAX):
                reply = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk],
                                                                      "Quiet": False})
                deleted += [d["Key"] for d in reply.get("Deleted", [])]
                errors += [f"s3://{bucket}/{e['Key']}: {e.get('Code', '')} {e.get('Message', '')}".strip()
                           for e in reply.get("Errors", [])]
        with self._lock:  # a later submit of an identical script must put it again
            for key in deleted:
                self._stored.pop((bucket, key), None)
        return deleted, sum(sizes[k] for k in deleted if k in sizes), errors

    def tree_usage(self, root: str) -> tuple[int, int]:
        """Return how many objects lie in an s3:// directory and their bytes."""
        sizes = self.script_sizes(*_directory(root))
        return len(sizes), sum(sizes.values())

    def tree_delete(self, root: str) -> None:
        """Delete every object in an s3:// directory (a run's own), and nothing beside it."""
        bucket, prefix = _directory(root)
        _, _, errors = self.delete_scripts(bucket, self.script_sizes(bucket, prefix))
        if errors:
            raise RuntimeError(f"could not delete {len(errors)} objects under {root}: {errors[0]}")

    def active_jobs(self) -> dict[str, dict]:
        """Return {job id: tags} of the Batchsite-tagged jobs not yet ended on any job queue (a task may
        name a queue of its own)."""
        with aws_call("listing job queues"):
            queues = {q["jobQueueArn"] for page in self.batch.get_paginator("describe_job_queues").paginate()
                      for q in page["jobQueues"]}
        ids = []
        for queue in sorted(queues):
            # Every Batchsite job name starts bs- (execution.job_name); a name filter lists all statuses.
            ids += [s["jobId"] for s in self._list_jobs(queue, "bs-*") if s.get("status") not in ENDED]
        return {job_id: detail.get("tags", {}) for job_id, detail in self._describe(ids).items()
                if "batchsite:run" in detail.get("tags", {}) and detail.get("status") not in ENDED}

    def deregister_unused(self, older_than_days: int) -> list[str]:
        """Deregister Batchsite's job definitions no submission has used for that many days."""
        cutoff = (date.today() - timedelta(days=older_than_days)).isoformat()
        gone = []
        with aws_call("deregistering job definitions"):
            for page in self.batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE"):
                for definition in page["jobDefinitions"]:
                    used = definition.get("tags", {}).get("batchsite:last-used", "")
                    if definition["jobDefinitionName"].startswith("batchsite-") and used and used < cutoff:
                        self.batch.deregister_job_definition(jobDefinition=definition["jobDefinitionArn"])
                        gone.append(definition["jobDefinitionArn"])
        self._definitions.clear()
        return gone


def _directory(root: str) -> tuple[str, str]:
    """Return (bucket, prefix) of a directory: with its trailing slash, so that run-1 never lists run-10."""
    bucket, prefix = split_uri(root.rstrip("/") + "/")
    return bucket, prefix
