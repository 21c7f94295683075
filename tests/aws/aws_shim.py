"""A stand-in for the AWS CLI inside emulated Batch jobs (this machine has none to rely on).

Implements only what Batchsite's bootstrap and job script call, as plain S3 REST requests to
the endpoint in AWS_ENDPOINT_URL (moto, which checks no signatures; the standard library only,
so a job's many calls start in milliseconds rather than boto3's third of a second):
  aws s3 cp [--quiet|--no-progress|--only-show-errors] [--recursive] [--exclude PATTERN]... SRC DST
  aws s3api get-object --bucket B --key K [--range R] OUTFILE
SRC and DST are local paths or s3:// URLs. Errors print "fatal error: ..." and exit 1, as the CLI does.
The emulator installs it as an executable named `aws` on each job's PATH.
"""
import fnmatch
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree

QUIET_FLAGS = {"--quiet", "--no-progress", "--only-show-errors"}
# moto picks the service from the credential scope of a request's Authorization header.
HEADERS = {"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
                            "SignedHeaders=host, Signature=0"}
S3_XML = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def request(method: str, bucket: str, key: str = "", *, query: str = "", data: bytes | None = None,
            headers: dict | None = None) -> bytes:
    url = f"{os.environ['AWS_ENDPOINT_URL'].rstrip('/')}/{bucket}/{urllib.parse.quote(key)}"
    headers = {**HEADERS, **(headers or {})}
    if data is not None:
        headers["Content-Type"] = "application/octet-stream"
    with urllib.request.urlopen(urllib.request.Request(url + query, data=data, method=method, headers=headers)) as r:
        return r.read()


def split(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key


def keys(bucket: str, prefix: str) -> list[str]:
    found, token = [], ""
    while True:
        query = "?list-type=2&prefix=" + urllib.parse.quote(prefix)
        if token:
            query += "&continuation-token=" + urllib.parse.quote(token)
        page = ElementTree.fromstring(request("GET", bucket, query=query))
        found += [item.findtext(f"{S3_XML}Key") for item in page.iter(f"{S3_XML}Contents")]
        token = page.findtext(f"{S3_XML}NextContinuationToken") or ""
        if not token:
            return found


def download(bucket: str, key: str, target: str) -> None:
    data = request("GET", bucket, key)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "wb") as f:
        f.write(data)


def upload(source: str, bucket: str, key: str) -> None:
    with open(source, "rb") as f:
        request("PUT", bucket, key, data=f.read())


def cp(args: list[str]) -> None:
    recursive, excludes, paths = False, [], []
    args = iter(args)
    for arg in args:
        if arg == "--recursive":
            recursive = True
        elif arg == "--exclude":
            excludes.append(next(args))
        elif arg not in QUIET_FLAGS:
            paths.append(arg)
    source, target = paths
    if recursive and source.startswith("s3://"):
        bucket, prefix = split(source.rstrip("/") + "/")
        for key in keys(bucket, prefix):
            relative = key[len(prefix):]
            if relative and not any(fnmatch.fnmatch(relative, p) for p in excludes):
                download(bucket, key, os.path.join(target, relative))
    elif recursive:
        bucket, prefix = split(target.rstrip("/") + "/")
        for folder, _, names in os.walk(source):
            for name in names:
                relative = os.path.relpath(os.path.join(folder, name), source)
                if not any(fnmatch.fnmatch(relative, p) for p in excludes):
                    upload(os.path.join(folder, name), bucket, prefix + relative)
    elif source.startswith("s3://"):
        bucket, key = split(source)
        if target.endswith("/") or os.path.isdir(target):
            target = os.path.join(target, os.path.basename(key))
        download(bucket, key, target)
    else:
        bucket, key = split(target)
        upload(source, bucket, key + os.path.basename(source) if key.endswith("/") or not key else key)


def get_object(args: list[str]) -> None:
    options, outfile = {}, None
    args = iter(args)
    for arg in args:
        if arg.startswith("--"):
            options[arg[2:]] = next(args)
        else:
            outfile = arg
    headers = {"Range": options["range"]} if "range" in options else {}
    data = request("GET", options["bucket"], options["key"], headers=headers)
    with open(outfile, "wb") as f:
        f.write(data)
    print(json.dumps({"ContentLength": len(data)}))


def main(argv: list[str]) -> None:
    try:
        if argv[:2] == ["s3", "cp"]:
            cp(argv[2:])
        elif argv[:2] == ["s3api", "get-object"]:
            get_object(argv[2:])
        else:
            raise SystemExit(f"aws (Batchsite test shim): unsupported command: {' '.join(argv)}")
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"fatal error: An error occurred ({exc.code}) {exc.reason}: {exc.url}")
    except OSError as exc:
        raise SystemExit(f"fatal error: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
