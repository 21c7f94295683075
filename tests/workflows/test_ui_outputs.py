"""A run's File outputs: links on the run page, a preview of text files, downloads, and who may read them."""
import pytest
from django.urls import reverse
from django.utils import timezone

from tests.workflows.ui_outputs import REPORT, files_run, link_out
from workflows.models import Run


@pytest.fixture
def run(project, alice):
    return files_run(project, alice)


def page(run, key, index=0, *, download=False):
    return reverse("workflows:run_output_download" if download else "workflows:run_output", args=[run.pk, key, index])


def test_every_file_output_is_a_link_on_the_run_page_also_inside_arrays_maps_pairs_and_structs(client, alice, run):
    client.force_login(alice)
    html = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    for key, index, name in [("files.report_out", 0, "report.tsv"), ("files.parts_out", 0, "part-0.txt"),
                             ("files.parts_out", 1, "part-1.bin"), ("files.by_sample_out", 0, "big.txt"),
                             ("files.pair_out", 0, "gone.txt"), ("files.result_out", 0, "table.csv")]:
        assert f'href="{page(run, key, index)}"' in html and f">{name}</a>" in html
        assert f'href="{page(run, key, index, download=True)}"' in html
    assert "/outputs/files.note_out/" not in html  # a String is no file


def test_a_small_text_file_previews_escaped_with_a_link_to_download_it_whole(client, alice, run):
    client.force_login(alice)
    response = client.get(page(run, "files.report_out"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "NA12878\t1000" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert page(run, "files.report_out", download=True) in html and "Download whole file" in html
    assert "first 64 KiB" not in html


def test_a_large_text_file_previews_its_first_64_kib_only(client, alice, run):
    client.force_login(alice)
    html = client.get(page(run, "files.by_sample_out")).content.decode()
    assert "x" * (64 * 1024) in html and "x" * (64 * 1024 + 1) not in html
    assert "This shows the first 64 KiB of 200.0\xa0KB" in html


def test_a_binary_file_is_not_shown_but_offered_for_download(client, alice, run):
    client.force_login(alice)
    html = client.get(page(run, "files.parts_out", 1)).content.decode()
    assert "This is not a text file" in html and "binary" not in html.split('id="output-binary"')[1][:200]


def test_the_download_streams_the_whole_file_as_an_attachment(client, alice, bob, run):
    for user in (alice, bob):  # bob, a read-only member, may read the team's outputs
        client.force_login(user)
        response = client.get(page(run, "files.by_sample_out", download=True))
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"x" * (200 * 1024)
        assert response["Content-Disposition"] == 'attachment; filename="big.txt"'
        assert response["Content-Length"] == str(200 * 1024)


def test_an_outsider_gets_404_for_the_page_the_preview_and_a_guessed_url(client, carol, other_team, run):
    client.force_login(carol)
    assert client.get(reverse("workflows:run_detail", args=[run.pk])).status_code == 404
    for url in (page(run, "files.report_out"), page(run, "files.report_out", download=True),
                page(run, "files.parts_out", 1, download=True)):
        response = client.get(url)
        assert response.status_code == 404 and REPORT.encode()[:20] not in response.content


def test_a_file_is_addressed_by_output_and_index_never_by_path(client, alice, run):
    client.force_login(alice)
    for key, index in [("files.note_out", 0), ("files.parts_out", 2), ("files.nothing", 0),
                       (run.outputs["files.report_out"].replace("/", "%2F"), 0), ("k" * 501, 0)]:
        assert client.get(page(run, key, index)).status_code == 404
    assert client.get(f"/runs/{run.pk}/outputs/files.parts_out/-1/").status_code == 404
    assert client.get(f"/runs/{run.pk}/outputs/files.report_out/0/../../../etc/passwd").status_code == 404


def test_a_link_out_of_the_call_directory_is_refused(client, alice, run, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the database password")
    run.outputs["files.report_out"] = link_out(run, "evil.txt", str(secret))
    run.save(update_fields=["outputs"])
    client.force_login(alice)
    for url in (page(run, "files.report_out"), page(run, "files.report_out", download=True)):
        response = client.get(url)
        assert response.status_code == 403 and b"the database password" not in response.content
        assert "is a link: not followed out of the call directory" in response.content.decode()


def test_a_directory_link_on_the_way_out_of_the_call_directory_is_refused(client, alice, run, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.txt").write_text("the database password")
    link = link_out(run, "outside", str(tmp_path / "elsewhere"))
    run.outputs["files.report_out"] = f"{link}/secret.txt"
    run.save(update_fields=["outputs"])
    client.force_login(alice)
    response = client.get(page(run, "files.report_out", download=True))
    assert response.status_code == 403 and b"the database password" not in response.content
    assert "outside is not a directory of the call (a link?)" in response.content.decode()


def test_a_path_that_climbs_out_of_the_runs_directory_is_refused(client, alice, run):
    run.outputs["files.report_out"] = f"{run.root}/call-files/execution/../../../../../../../etc/passwd"
    run.save(update_fields=["outputs"])
    client.force_login(alice)
    response = client.get(page(run, "files.report_out", download=True))
    assert response.status_code == 403 and b"root:" not in response.content
    assert "Batchsite does not serve it" in response.content.decode()


def test_a_file_outside_the_runs_directory_is_listed_but_never_served(client, alice, run, tmp_path):
    outside = tmp_path / "input.txt"
    outside.write_text("secret input content")
    run.outputs["files.report_out"] = str(outside)
    run.save(update_fields=["outputs"])
    client.force_login(alice)
    html = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "outside the run's directory: not served" in html and page(run, "files.report_out") not in html
    response = client.get(page(run, "files.report_out", download=True))
    assert response.status_code == 403 and b"secret input content" not in response.content


def test_a_deleted_file_says_so(client, alice, run):
    client.force_login(alice)
    response = client.get(page(run, "files.pair_out"))
    assert response.status_code == 410 and "This file no longer exists: it was deleted." in response.content.decode()
    Run.objects.filter(pk=run.pk).update(cleaned_up=timezone.now())
    html = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert "deleted by cleanup" in html and page(run, "files.report_out") not in html
    response = client.get(page(run, "files.report_out", download=True))
    assert response.status_code == 410 and "deleted when the run was cleaned up" in response.content.decode()
