"""Sample sheets: a preview maps columns to inputs and checks every row; launching makes one labelled run per
row and a batch page; a bad row, a bad file or a sheet over a limit submits nothing."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from teams.models import Membership, Team
from teams.services import membership_set, user_create
from tests.workflows.ui_factories import hello_workflow
from workflows.models import Run, RunBatch, RunLabel

GOOD = "id,n,who,loud,tags\nS1,1,ann,TRUE,\"[\"\"x\"\"]\"\nS2,2,bo,false,\nS3,3,cy,,\n"


@pytest.fixture
def workflow(project, alice):
    return hello_workflow(project, alice)


def sheet_url(workflow):
    return reverse("workflows:sheet_launch", args=[workflow.pk])


def preview(client, workflow, text=None, *, upload=None, **extra):
    data = {"sheet_text": text or "", **extra}
    if upload is not None:
        data["sheet_file"] = upload
    return client.post(sheet_url(workflow), data)


def test_the_launch_page_links_to_the_sample_sheet_page(client, alice, workflow):
    client.force_login(alice)
    page = client.get(reverse("workflows:launch", args=[workflow.pk])).content.decode()
    assert sheet_url(workflow) in page


def test_a_preview_maps_columns_to_inputs_checks_rows_and_submits_nothing(client, alice, workflow):
    client.force_login(alice)
    response = preview(client, workflow, GOOD)
    page = response.content.decode()
    assert response.status_code == 200
    assert "hello.n" in page and "hello.who" in page and "Launch 3 runs" in page
    assert page.count('class="row-ok"') == 3
    assert not Run.objects.exists()


def test_launching_makes_one_run_per_row_labelled_with_its_sample_and_a_batch_page(client, alice, workflow):
    client.force_login(alice)
    response = preview(client, workflow, GOOD, launch="1")
    batch = RunBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("workflows:batch_detail", args=[batch.pk])
    runs = {run.labels["sample"]: run for run in Run.objects.all()}
    assert sorted(runs) == ["S1", "S2", "S3"]
    assert runs["S1"].inputs == {"hello.n": 1, "hello.who": "ann", "hello.loud": True, "hello.tags": ["x"]}
    assert runs["S3"].inputs == {"hello.n": 3, "hello.who": "cy"}  # empty cells leave the WDL's defaults
    assert RunLabel.objects.filter(key="sample").count() == 3
    assert [row["sample"] for row in batch.rows] == ["S1", "S2", "S3"]
    page = client.get(response["Location"]).content.decode()
    assert page.count('class="batch-row"') == 3 and 'hx-get="' in page  # refreshed while runs are unfinished
    rows = client.get(reverse("workflows:batch_rows", args=[batch.pk])).content.decode()
    assert str(runs["S2"].pk)[:8] in rows and 'data-sample="S2"' in rows


def test_a_tsv_file_and_a_chosen_sample_column(client, alice, workflow):
    client.force_login(alice)
    upload = SimpleUploadedFile("samples.tsv", "n\twho\tid\n5\tx y\tA\n6\tz\tB\n".encode())
    response = preview(client, workflow, upload=upload, sample_column="id", launch="1")
    assert response.status_code == 302
    assert sorted(Run.objects.values_list("labels__sample", flat=True)) == ["A", "B"]
    assert Run.objects.get(labels__sample="A").inputs["hello.who"] == "x y"
    assert RunBatch.objects.get().sheet_name == "samples.tsv"


@pytest.mark.parametrize("text, problem", [
    ("id,n\nS1,1\nS2,two\nS3,3\n", "row 2, column &#x27;n&#x27;: an Int is a whole number"),
    ("id,n\nS1,1\nS2,\n", "row 2, column &#x27;n&#x27;: required input is missing"),
    ("id,n,reference\nS1,1,relative/path.bam\n", "row 1, column &#x27;reference&#x27;: a File is an s3://"),
    ("id,n,counts\nS1,1,{\"x\": \"y\"}\n", "row 1: hello.counts"),
    ("id,n\nS1,1\nS1,2\n", "row 2: sample id &#x27;S1&#x27; is also row 1&#x27;s"),
    ("id,n\n,1\n", "row 1: the sample id (column &#x27;id&#x27;) is empty"),
    ("id,who\nS1,x\n", "required input hello.n has no column"),
    ("id,n,wh0\nS1,1,x\n", "column &#x27;wh0&#x27; names no input of this workflow"),
    ("id,n\nS1,1,extra\n", "row 1 (line 2) has 3 cells; the header has 2"),
    ("id,n,n\nS1,1,2\n", "column &#x27;n&#x27; appears twice"),
    ("id,n,hello.n\nS1,1,2\n", "two columns fill the same input"),
    ("id,n\n", "has a header but no rows"),
    ("id,n\nS1,\"1\n", "cannot be read as CSV"),
    (f"id,n\nS1,{'9' * 30}\n", "row 1, column &#x27;n&#x27;"),
])
def test_a_bad_sheet_is_refused_naming_row_and_column_and_nothing_is_submitted(client, alice, workflow, text, problem):
    client.force_login(alice)
    response = preview(client, workflow, text, launch="1")  # even a forged launch submits nothing
    page = response.content.decode()
    assert response.status_code == 400
    assert problem in page, page[page.find("error"):][:2000]
    assert "Launch " not in page.split("sheet-form")[0] or 'id="launch-sheet"' not in page
    assert not Run.objects.exists() and not RunBatch.objects.exists()


def test_a_bad_row_refuses_the_whole_sheet_even_when_other_rows_are_good(client, alice, workflow):
    client.force_login(alice)
    response = preview(client, workflow, "id,n\nS1,1\nS2,2\nS3,x\n", launch="1")
    page = response.content.decode()
    assert response.status_code == 400 and 'id="launch-sheet"' not in page
    assert page.count('class="row-ok"') == 2 and page.count('class="row-bad"') == 1
    assert not Run.objects.exists()


@pytest.mark.parametrize("data, problem", [
    ("id,who\nS1,Zoë\n".encode("latin-1"), "not UTF-8 text: byte 13 (line 2) is 0xeb"),
    (b"id,n\nS1,1\x00\n", "contains a NUL character"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "not UTF-8 text"),  # an old Excel file
    ("id,n\nS1,".encode() + b"1" * 200_000 + b"\n", "a cell is longer than 131,072 characters"),
])
def test_bad_files_are_refused_with_a_clear_message(client, alice, workflow, data, problem):
    client.force_login(alice)
    response = preview(client, workflow, upload=SimpleUploadedFile("s.csv", data), launch="1")
    assert response.status_code == 400 and problem in response.content.decode()
    assert not Run.objects.exists()


def test_a_byte_order_mark_is_dropped(client, alice, workflow):
    client.force_login(alice)
    response = preview(client, workflow, upload=SimpleUploadedFile("s.csv", "\ufeffid,n\nS1,1\n".encode()))
    assert response.status_code == 200 and "Launch 1 run" in response.content.decode()


def test_pasted_nul_is_refused(client, alice, workflow):
    client.force_login(alice)
    response = preview(client, workflow, "id,n\nS1,1\x00\n")
    assert response.status_code == 400 and "Null characters are not allowed" in response.content.decode()


def test_sheets_over_the_limits_are_refused(client, alice, team, workflow):
    client.force_login(alice)
    Team.objects.filter(pk=team.pk).update(max_runs_per_batch=2)
    response = preview(client, workflow, "id,n\nS1,1\nS2,2\nS3,3\n", launch="1")
    assert response.status_code == 400
    assert "the sample sheet has 3 rows; at most 2 runs are allowed per batch" in response.content.decode()
    big = SimpleUploadedFile("s.csv", b"id,n\n" + b"S,1\n" * 300_000)
    response = preview(client, workflow, upload=big)
    assert response.status_code == 400 and "at most 1,048,576 are allowed" in response.content.decode()
    wide = ",".join(f"c{i}" for i in range(300)) + "\n" + ",".join("1" * 300) + "\n"
    response = preview(client, workflow, wide)
    assert response.status_code == 400 and "300 columns; at most 200" in response.content.decode()
    Team.objects.filter(pk=team.pk).update(max_runs_per_batch=None, max_queued_runs=1)
    response = preview(client, workflow, "id,n\nS1,1\nS2,2\n", launch="1")
    assert response.status_code == 400 and "2 more runs cannot start" in response.content.decode()
    assert not Run.objects.exists()


def test_huge_cells_are_refused_by_the_teams_input_limit(client, alice, team, workflow):
    client.force_login(alice)
    Team.objects.filter(pk=team.pk).update(max_input_bytes_per_value=1000)
    response = preview(client, workflow, f"id,n,who\nS1,1,{'x' * 5000}\n", launch="1")
    assert response.status_code == 400
    assert "row 1: hello.who: is 5,002 bytes of JSON; at most 1,000 are allowed" in response.content.decode()
    assert not Run.objects.exists()


def test_outsiders_get_404_and_viewers_403(client, alice, bob, carol, other_team, workflow):
    client.force_login(alice)
    preview(client, workflow, GOOD, launch="1")
    batch = RunBatch.objects.get()
    client.force_login(carol)
    for url in (sheet_url(workflow), reverse("workflows:batch_detail", args=[batch.pk]),
                reverse("workflows:batch_rows", args=[batch.pk])):
        assert client.get(url).status_code == 404
    assert preview(client, workflow, GOOD, launch="1").status_code == 404
    client.force_login(bob)  # a viewer sees the batch but cannot launch one
    assert client.get(reverse("workflows:batch_detail", args=[batch.pk])).status_code == 200
    assert client.get(sheet_url(workflow)).status_code == 403
    assert preview(client, workflow, GOOD, launch="1").status_code == 403
    assert Run.objects.count() == 3


def test_a_scientist_launches_a_sheet(client, team, workflow):
    dana = user_create(username="dana", password="pw-dana")
    membership_set(team=team, user=dana, role=Membership.Role.SCIENTIST)
    client.force_login(dana)
    assert preview(client, workflow, GOOD, launch="1").status_code == 302
    assert set(Run.objects.values_list("submitted_by__username", flat=True)) == {"dana"}
