"""Call caching on AWS Batch through the compute emulator: S3 copy and reference, multipart copies, ECR digests."""
from tests.api.conftest import json_body
import json
import os

import boto3
import pytest

from batchsite.config import get_config
from tests.aws.conftest import REGION, ROOT_BUCKET
from tests.aws.test_end_to_end import drive
from workflows.backends import backend_for
from workflows.models import CacheEntry, Call, Run
from workflows.services import run_submit, workflow_create

pytestmark = pytest.mark.django_db(transaction=True)

ECR_IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/tools"
CHAIN = """version 1.0
workflow wf {
  input { Array[String] words  File ref  String image = "ubuntu:22.04"  Int big_mb = 0 }
  scatter (w in words) { call shout { input: word = w, ref = ref, image = image } }
  call join { input: parts = shout.out, big_mb = big_mb }
  call count { input: big = join.big }
  output { File joined = join.out  Int size = count.n }
}
task shout {
  input { String word  File ref  String image }
  command <<< echo "~{word} $(cat ~{ref})" | tr a-z A-Z > out.txt >>>
  output { File out = "out.txt" }
  runtime { docker: image }
}
task join {
  input { Array[File] parts  Int big_mb }
  command <<< cat ~{sep=" " parts} > joined.txt; head -c $(( ~{big_mb} * 1048576 + 7 )) /dev/zero > big.bin >>>
  output { File out = "joined.txt"  File big = "big.bin" }
}
task count {
  input { File big }
  command <<< wc -c < ~{big} >>>
  output { Int n = read_int(stdout()) }
}
"""


@pytest.fixture
def caching(aws, monkeypatch, tmp_path):
    """Turn call caching on in the AWSBatch provider's config."""
    original = open(os.environ["BATCHSITE_CONFIG"]).read()

    def configure(strategy: str = "copy"):
        path = tmp_path / f"caching-{strategy}.conf"
        text = original.replace(
            "concurrent-job-limit = 100", f'concurrent-job-limit = 100\n        filesystems.s3.caching.duplication-strategy = "{strategy}"')
        path.write_text(text + "\ncall-caching { enabled = true }\n")
        monkeypatch.setenv("BATCHSITE_CONFIG", str(path))
        get_config.cache_clear()
        backend_for.cache_clear()
    configure()
    aws.s3.put_object(Bucket=ROOT_BUCKET, Key="inputs/ref.txt", Body=b"ref\n")
    aws.configure = configure
    return aws


def run(project, alice, name="wf", **inputs) -> Run:
    version = workflow_create(project=project, name=name, source=CHAIN.encode(), user=alice).versions.get()
    run = run_submit(version=version, user=alice, inputs={
        "wf.words": ["a", "b"], "wf.ref": f"s3://{ROOT_BUCKET}/inputs/ref.txt", **{f"wf.{k}": v for k, v in inputs.items()}})
    run = drive(run, until=lambda r: not r.is_active)
    assert run.status == Run.Status.SUCCEEDED, (run.failures, list(Call.objects.filter(run=run).values_list(
        "fqn", "failure", "cache_result")))
    return run


def submitted(aws) -> int:
    return len(aws.emulator.calls("submitjob"))


def test_a_rerun_copies_every_output_in_s3_and_submits_no_job(caching, eager, project, alice):
    first = run(project, alice)
    jobs = submitted(caching)
    second = run(project, alice, name="wf2")
    assert submitted(caching) == jobs  # no SubmitJob at all
    for call in Call.objects.filter(run=second):
        assert call.cached_from.run_id == first.pk and not call.backend_job_id
        assert caching.read(f"{call.call_dir}/execution/rc").strip() == "0"
    joined = second.outputs["wf.joined"]
    assert joined.startswith(second.root + "/") and caching.read(joined) == "A REF\nB REF\n"
    shout = Call.objects.get(run=second, fqn="wf.shout", shard_index=1)
    assert caching.read(shout.outputs["out"]) == "B REF\n" and shout.outputs["out"].startswith(shout.call_dir)


def test_reference_leaves_outputs_where_they_are(caching, eager, project, alice):
    caching.configure("reference")
    first = run(project, alice)
    second = run(project, alice, name="wf2")
    assert second.outputs["wf.joined"] == first.outputs["wf.joined"]
    join = Call.objects.get(run=second, fqn="wf.join")
    assert caching.read(f"{join.call_dir}/execution/rc").strip() == "0"  # stdout, stderr and rc are its own
    assert not caching.keys(ROOT_BUCKET, join.call_dir.split("/", 3)[3] + "/execution/joined.txt")


def test_a_big_output_is_copied_in_parts_and_still_known_by_its_content(caching, eager, project, alice):
    caching.backend.copy_multipart_threshold = caching.backend.copy_chunk_size = 5 * 1024 * 1024
    first = run(project, alice, big_mb=6)
    second = run(project, alice, name="wf2", big_mb=6)
    join_a, join_b = (Call.objects.get(run=r, fqn="wf.join") for r in (first, second))
    head_a, head_b = (caching.s3.head_object(Bucket=ROOT_BUCKET, Key=c.outputs["big"].split("/", 3)[3])
                      for c in (join_a, join_b))
    assert head_b["ETag"].strip('"').endswith("-2") and head_b["ETag"] != head_a["ETag"]  # a multipart copy
    assert head_b["ContentLength"] == head_a["ContentLength"] == 6 * 1048576 + 7
    assert second.outputs["wf.size"] == 6 * 1048576 + 7
    # A third run whose only entries are the second's: count's input is the copy, known by its source's hash.
    CacheEntry.objects.filter(run=first).delete()
    jobs = submitted(caching)
    third = run(project, alice, name="wf3", big_mb=6)
    assert submitted(caching) == jobs
    assert Call.objects.get(run=third, fqn="wf.count").cached_from.run_id == second.pk


def _push(tag: str, layer: str) -> str:
    ecr = boto3.client("ecr", region_name=REGION)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": f"sha256:{layer * 64}"[:71], "size": 1, "mediaType": "x"},
                           "layers": [{"digest": f"sha256:{layer * 64}"[:71], "size": 1, "mediaType": "y"}]})
    ecr.put_image(repositoryName="tools", imageManifest=manifest, imageTag=tag)
    return ecr.describe_images(repositoryName="tools", imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]


def test_an_ecr_tag_is_hashed_by_its_digest(caching, eager, project, alice):
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="tools")
    digest = _push("1.0", "a")
    assert caching.backend.image_digests([f"{ECR_IMAGE}:1.0"]) == {f"{ECR_IMAGE}:1.0": f"{ECR_IMAGE}@{digest}"}
    first = run(project, alice, image=f"{ECR_IMAGE}:1.0")
    second = run(project, alice, name="wf2", image=f"{ECR_IMAGE}:1.0")
    assert all(c.cached_from_id for c in Call.objects.filter(run=second))
    _push("1.0", "b")  # the tag now names another image: the shards run again
    jobs = submitted(caching)
    third = run(project, alice, name="wf3", image=f"{ECR_IMAGE}:1.0")
    assert submitted(caching) > jobs
    shards = Call.objects.filter(run=third, fqn="wf.shout")
    assert not any(c.cached_from_id for c in shards) and first.pk != third.pk


def test_an_unresolvable_tag_turns_caching_off_for_that_call_and_says_why(caching, eager, project, alice, client):
    boto3.client("ecr", region_name=REGION).create_repository(repositoryName="tools")
    image = f"{ECR_IMAGE}:nosuch"
    assert caching.backend.image_digests([image]) == {image: None}
    first = run(project, alice, image=image)
    shards = list(Call.objects.filter(run=first, fqn="wf.shout"))
    assert all("could not be resolved to a digest" in c.cache_result for c in shards)
    assert not CacheEntry.objects.filter(call__in=shards).exists()
    assert CacheEntry.objects.filter(run=first).count() == 2  # join and count have no docker
    second = run(project, alice, name="wf2", image=image)
    assert not any(c.cached_from_id for c in Call.objects.filter(run=second, fqn="wf.shout"))
    client.force_login(alice)
    block = json_body(client.get(f"/api/workflows/v1/{second.pk}/metadata"))["calls"]["wf.shout"][0]["callCaching"]
    assert (block["effectiveCallCachingMode"], block["allowResultReuse"], block["hit"]) == ("CallCachingOff", False, False)
    assert "could not be resolved" in client.get(f"/runs/{second.pk}/").content.decode()


def test_a_hit_whose_objects_were_deleted_runs_the_call(caching, eager, project, alice):
    first = run(project, alice)
    gone = Call.objects.get(run=first, fqn="wf.shout", shard_index=0)
    caching.s3.delete_object(Bucket=ROOT_BUCKET, Key=gone.outputs["out"].split("/", 3)[3])
    second = run(project, alice, name="wf2")
    ran = [(c.fqn, c.shard_index) for c in Call.objects.filter(run=second) if c.backend_job_id]
    assert ran == [("wf.shout", 0)]
    assert not CacheEntry.objects.get(call=gone).valid
