"""A Batch run's File outputs in S3: a ranged read for the preview, a short-lived presigned URL for the download."""
import urllib.request
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from tests.aws.test_end_to_end import SCATTER_GATHER, drive
from workflows.models import Run
from workflows.services import run_submit, workflow_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(aws, eager, project, alice):
    version = workflow_create(project=project, name="gather", source=SCATTER_GATHER).versions.get()
    run = run_submit(version=version, user=alice, inputs={"gather_files.parts": ["one", "two", "three"]})
    assert drive(run, until=lambda r: not r.is_active).status == Run.Status.SUCCEEDED
    return run


def url(run, key, index=0, *, download=False):
    return reverse("workflows:run_output_download" if download else "workflows:run_output", args=[run.pk, key, index])


def test_the_owner_and_a_viewer_preview_and_download_s3_outputs_through_a_presigned_url(aws, client, alice, bob, run):
    for user in (alice, bob):
        client.force_login(user)
        html = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
        assert f'href="{url(run, "gather_files.part_files", 2)}"' in html and ">part_2.txt</a>" in html
        preview = client.get(url(run, "gather_files.merged"))
        assert preview.status_code == 200 and "one\ntwo\nthree\n" in preview.content.decode()
        response = client.get(url(run, "gather_files.part_files", 1, download=True))
        assert response.status_code == 302
        signed = urlparse(response["Location"])
        query = parse_qs(signed.query)
        assert signed.path.endswith("/part_1.txt") and int(query["X-Amz-Expires"][0]) <= 300
        disposition = "attachment; filename=\"part_1.txt\"; filename*=UTF-8''part_1.txt"
        assert query["response-content-disposition"] == [disposition]
        with urllib.request.urlopen(response["Location"]) as got:  # what the browser then fetches from S3
            assert got.read() == b"two\n"
            assert got.headers["Content-Disposition"] == disposition


def test_an_outsider_gets_no_presigned_url_not_even_by_a_guessed_address(aws, client, carol, other_team, run):
    client.force_login(carol)
    for address in (url(run, "gather_files.merged"), url(run, "gather_files.merged", download=True),
                    url(run, "gather_files.part_files", 0, download=True)):
        response = client.get(address)
        assert response.status_code == 404 and "Location" not in response


def test_a_deleted_s3_output_says_so_instead_of_sending_the_browser_to_an_error(aws, client, alice, run):
    bucket, _, key = run.outputs["gather_files.merged"].removeprefix("s3://").partition("/")
    aws.s3.delete_object(Bucket=bucket, Key=key)
    client.force_login(alice)
    for address in (url(run, "gather_files.merged"), url(run, "gather_files.merged", download=True)):
        response = client.get(address)
        assert response.status_code == 410 and "This file no longer exists" in response.content.decode()
