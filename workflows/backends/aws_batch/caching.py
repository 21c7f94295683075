"""Call caching on AWS: hashes of S3 objects, ECR tags resolved to digests, and hits copied or referenced.

An object's hash is its ETag and size. A multipart ETag depends on the part size, so a copy of
an object is not recognised by its ETag: every copy a hit makes carries the hash of its source
in its metadata (x-amz-meta-batchsite-hash), and that hash is what the copy is known by.
"""
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from workflows.backends.hashing import content_hash

from .client import aws_call, error_code
from .workspace import split_uri

HASH_META = "batchsite-hash"
THREADS = 32
# <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:<tag>]
_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([a-z0-9._/-]+?)(?::([\w][\w.-]{0,127}))?$")
_MISSING_IMAGE = ("ImageNotFoundException", "RepositoryNotFoundException", "InvalidParameterException")


class CacheFiles:
    """The call-caching side of AwsBatchBackend (which provides s3 and provider)."""

    # boto3's managed copy goes multipart above this (objects over 5 GB need it); tests lower it.
    copy_multipart_threshold = 64 * 1024 * 1024
    copy_chunk_size = 64 * 1024 * 1024

    def file_hashes(self, paths: Sequence[str]) -> dict[str, str | None]:
        if len(paths) <= 1:  # the usual shard: no thread pool for one file
            with aws_call("hashing the call's input files"):
                return {path: self._hash(path) for path in paths}
        with aws_call("hashing the call's input files"), ThreadPoolExecutor(min(THREADS, len(paths))) as pool:
            return dict(zip(paths, pool.map(self._hash, paths)))

    def _hash(self, path: str) -> str | None:
        return self._stat(path)[0]

    def _stat(self, path: str) -> tuple[str | None, int]:
        """Return (the object's hash, its size); (None, 0) if nothing is there."""
        if not path.startswith("s3://"):
            return content_hash(path), 0  # a write_*() file the call's declarations made on this host
        bucket, key = split_uri(path)
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
            return self._tree_hash(bucket, key.rstrip("/") + "/"), 0
        size = head["ContentLength"]
        return head.get("Metadata", {}).get(HASH_META) or f"etag:{head['ETag'].strip(chr(34))}:{size}", size

    def _tree_hash(self, bucket: str, prefix: str) -> str | None:
        """Return a hash of every object under a prefix (a Directory), None if there is none."""
        digest, found = hashlib.sha256(), False
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found = True
                digest.update(f"{item['Key'][len(prefix):]}\0{item['ETag']}\0{item['Size']}\0".encode())
        return f"tree-sha256:{digest.hexdigest()}" if found else None

    def image_digests(self, images: Sequence[str]) -> dict[str, str | None]:
        """Resolve ECR tags with DescribeImages; an image given by digest is itself; other registries'
        tags are taken by name (Batchsite cannot reach them: pin those by digest)."""
        found: dict[str, str | None] = {}
        for image in images:
            match = _ECR.match(image)
            if "@sha256:" in image or not match:
                found[image] = image
                continue
            account, region, repository, tag = match.groups()
            ecr = boto3.session.Session().client("ecr", region_name=region)
            try:
                with aws_call(f"resolving {image} to a digest"):
                    reply = ecr.describe_images(registryId=account, repositoryName=repository,
                                                imageIds=[{"imageTag": tag or "latest"}])
            except ClientError as exc:
                if error_code(exc) not in _MISSING_IMAGE:
                    raise
                found[image] = None
                continue
            details = reply.get("imageDetails", [])
            found[image] = f"{image.split(':')[0] if tag else image}@{details[0]['imageDigest']}" if details else None
        return found

    def duplicate(self, paths: Sequence[str], *, from_dir: str, into_dir: str) -> dict[str, str]:
        reference = self.provider.duplication_strategy == "reference"
        base = from_dir.rstrip("/") + "/"
        detritus = [f"{base}execution/{name}" for name in ("stdout", "stderr", "rc")]
        plan: dict[str, str] = {}
        for path in [*detritus, *paths]:
            own = path.startswith(base) and not (reference and path not in detritus)
            plan[path] = into_dir.rstrip("/") + "/" + path[len(base):] if own else path
        with aws_call("bringing in a cached call's files"), ThreadPoolExecutor(min(THREADS, len(plan))) as pool:
            list(pool.map(lambda item: self._bring(*item), plan.items()))
        return plan

    def _bring(self, source: str, target: str) -> None:
        """Copy source to target (managed copy: multipart when big), or check it is there if they are one."""
        source_hash, size = self._stat(source)
        if source_hash is None:
            raise FileNotFoundError(f"{source} is gone")
        if source == target:
            return
        (bucket, key), (target_bucket, target_key) = split_uri(source), split_uri(target)
        if source_hash.startswith("tree-"):  # a Directory: each object under it
            prefix = key.rstrip("/") + "/"
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    self._bring(f"s3://{bucket}/{item['Key']}",
                                f"s3://{target_bucket}/{target_key.rstrip('/')}/{item['Key'][len(prefix):]}")
            return
        extra = {"Metadata": {HASH_META: source_hash}, "MetadataDirective": "REPLACE"}
        if size < self.copy_multipart_threshold:  # what the managed copy would do, without its thread pool
            self.s3.copy_object(CopySource={"Bucket": bucket, "Key": key}, Bucket=target_bucket, Key=target_key,
                                **extra)
            return
        config = TransferConfig(multipart_threshold=self.copy_multipart_threshold,
                                multipart_chunksize=self.copy_chunk_size, max_concurrency=4)
        self.s3.copy({"Bucket": bucket, "Key": key}, target_bucket, target_key, Config=config, ExtraArgs=extra)
