"""What runs in the container: the job definition's bootstrap and each call's job script.

What the compute environment must provide (as for Cromwell's AWS backend):
- bash in every image, and the AWS CLI: either on the image's PATH or, as Cromwell's launch
  template installs it, AWS CLI v2 on the host at /usr/local/aws-cli (the job definition mounts
  it read-only and the bootstrap puts it on PATH). The job script uses `aws s3 cp` (with
  --recursive and --exclude) and, for array jobs, `aws s3api get-object --range`.
- a job role (the run's `aws_batch_job_role_arn`) that may read the script bucket and the
  inputs, and read and write the call directories under `root`.
- the awslogs log driver (Batch's default): the job's output goes to /aws/batch/job.
- for private images: an execution role (the provider's `execution-role-arn`, set on the job
  definitions that carry repositoryCredentials) that may read the registry secret
  (secretsmanager:GetSecretValue): the container agent pulls under it. A raw dockerhub token
  in the config is kept by Batchsite in a secret named batchsite/<provider>/dockerhub-<hash>,
  so Batchsite's own credentials then need secretsmanager:DescribeSecret and CreateSecret there.

The bootstrap fetches the job script named by BATCH_FILE_S3_URL (BATCH_FILE_TYPE=script, as
Cromwell's fetch_and_run does), or, for a child of an array job (BATCH_FILE_TYPE=bundle), reads
its own script out of the array's bundle with two ranged GETs. The job script downloads the
call's inputs to <container-root>/<bucket>/<key>, runs the command in
<container-root>/<bucket>/<call dir key>/execution, uploads that directory to the call
directory, then `rc`, then its own output as `log`, and exits with the command's code.

The command is written to a file of its own that bash runs (as Cromwell's and miniwdl's job
scripts do), never pasted into the job script: an empty command, a heredoc or unbalanced
parentheses in it then cannot change how the job script itself parses.
"""
import base64
import hashlib
import json
import shlex
from typing import Sequence

from workflows.backends.base import StagedFile

# An index entry of a bundle: "<offset> <length>\n", fixed width so a child finds its own by index.
ENTRY = 32
# AWS CLI v2 where Cromwell's launch template installs it on the host.
HOST_AWS_CLI = "/usr/local/aws-cli"

BOOTSTRAP = f"""set -e
export PATH="{HOST_AWS_CLI}/v2/current/bin:$PATH"
script="$(mktemp)"
if [ "$BATCH_FILE_TYPE" = bundle ]; then
  bucket="${{BATCH_FILE_S3_URL#s3://}}"; key="${{bucket#*/}}"; bucket="${{bucket%%/*}}"
  at=$(( ${{AWS_BATCH_JOB_ARRAY_INDEX:?not a child of an array job}} * {ENTRY} ))
  aws s3api get-object --bucket "$bucket" --key "$key" --range "bytes=$at-$(( at + {ENTRY - 1} ))" "$script" >/dev/null
  read -r offset length < "$script"
  aws s3api get-object --bucket "$bucket" --key "$key" --range "bytes=$offset-$(( offset + length - 1 ))" "$script" >/dev/null
else
  aws s3 cp --quiet "$BATCH_FILE_S3_URL" "$script"
fi
exec /bin/bash "$script"
"""

_PROLOGUE = r"""
tmp="$(mktemp -d)"
# Everything this script prints goes to the container's output (CloudWatch) and to a copy
# that is archived as execution/log, so the log outlives Batch's memory of the job.
mkfifo "$tmp/log.pipe"
tee "$tmp/log" < "$tmp/log.pipe" & log_tee=$!
exec 9>&1 > "$tmp/log.pipe" 2>&1

finish() {  # finish <code>: archive the log and exit
  exec 1>&9 2>&9 9>&-
  wait "$log_tee"
  aws s3 cp --only-show-errors "$tmp/log" "$call/execution/log"
  exit "$1"
}

fetch() {  # fetch <s3 url> <path>: an object, or every object under a prefix (a WDL Directory)
  mkdir -p "$(dirname "$2")"
  aws s3 cp --only-show-errors "$1" "$2" 2>/dev/null \
    || aws s3 cp --only-show-errors --recursive "$1/" "$2/"
  [ -e "$2" ] || { echo "batchsite: cannot fetch $1" >&2; return 1; }
}

mkdir -p "$work" && cd "$work" || finish 1
aws s3 cp --only-show-errors "$0" "$call/execution/script"
echo "batchsite: localizing inputs"
"""

_EPILOGUE = r"""
echo "batchsite: running the command"
mkfifo "$tmp/out" "$tmp/err"
tee stdout < "$tmp/out" & out_tee=$!
tee stderr < "$tmp/err" >&2 & err_tee=$!
/bin/bash "$tmp/command" < /dev/null > "$tmp/out" 2> "$tmp/err"
rc=$?
wait "$out_tee" "$err_tee"
echo "batchsite: the command exited with $rc; uploading outputs"
# rc goes last: a call directory with rc in it has everything else too.
if aws s3 cp --only-show-errors --recursive . "$call/execution/" \
   && echo "$rc" > "$tmp/rc" && aws s3 cp --only-show-errors "$tmp/rc" "$call/execution/rc"; then
  echo "batchsite: done"
else
  echo "batchsite: uploading the outputs failed" >&2
fi
finish "$rc"
"""


def job_script(*, call_dir: str, work_dir: str, command: str, files: Sequence[StagedFile]) -> str:
    """Return the bash script that runs one call attempt in its container."""
    lines = ["#!/bin/bash", f"# Batchsite job script for {call_dir}",
             f"call={shlex.quote(call_dir)}", f"work={shlex.quote(work_dir)}", _PROLOGUE.strip("\n")]
    for staged in files:
        target = shlex.quote(staged.job_path)
        if staged.uri:
            lines.append(f"fetch {shlex.quote(staged.uri)} {target} || finish 1")
        else:  # a write_*() file: carried in the script itself, one request fewer per call
            lines.extend(_carried(target, staged.content))
    # Verbatim, so the stored script shows the command; the heredoc's end marker is derived from
    # the command's own hash, so no line of the command can end the heredoc early.
    marker = "BATCHSITE_COMMAND_" + hashlib.sha256(command.encode()).hexdigest()[:32]
    lines.append(f"cat > \"$tmp/command\" <<'{marker}' || finish 1")
    if command:
        lines.append(command.rstrip("\n"))
    lines.append(marker)
    lines.append(_EPILOGUE.strip("\n"))
    return "\n".join(lines) + "\n"


def _carried(target: str, content: bytes) -> list[str]:
    """Return the lines that write content to target (a shell word), base64 so no byte of it is syntax."""
    encoded = base64.b64encode(content).decode()
    lines = [f"mkdir -p \"$(dirname {target})\" && base64 -d > {target} <<'BATCHSITE_EOF' || finish 1"]
    lines.extend(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    lines.append("BATCHSITE_EOF")
    return lines


def bundle(scripts: Sequence[bytes], names: Sequence[str]) -> bytes:
    """Pack the scripts of an array job's children into one object a child reads its own from.

    Layout: one index entry per child, the scripts, a JSON trailer with the children's job names
    (find() reads it), and a last entry locating the trailer.
    """
    trailer = json.dumps({"names": list(names)}).encode()
    offset = ENTRY * len(scripts)
    index, body = [], []
    for script in scripts:
        index.append(_entry(offset, len(script)))
        body.append(script)
        offset += len(script)
    return b"".join(index) + b"".join(body) + trailer + _entry(offset, len(trailer))


def bundle_names(read_range) -> list[str]:
    """Return the job names of a bundle's children; read_range(spec) returns the bytes of an HTTP Range."""
    offset, length = (int(field) for field in read_range(f"bytes=-{ENTRY}").split())
    return json.loads(read_range(f"bytes={offset}-{offset + length - 1}"))["names"]


def _entry(offset: int, length: int) -> bytes:
    entry = f"{offset:15d} {length:15d}\n".encode()
    assert len(entry) == ENTRY
    return entry
