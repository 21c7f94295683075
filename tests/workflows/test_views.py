import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from workflows.models import Workflow, WorkflowVersion
from workflows.services import workflow_create

HELLO = b"""version 1.0
workflow hello {
  input { String who = "world" }
  call greet { input: who = who }
  output { String greeting = greet.out }
}
task greet {
  input { String who }
  command <<< echo "hello ~{who}" >>>
  output { String out = read_string(stdout()) }
}
"""
BROKEN = b"""version 1.0
workflow broken {
  call nosuch
}
"""


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.fixture
def workflow(project, alice):
    return workflow_create(project=project, name="Hello", source=HELLO, filename="hello.wdl", user=alice)


def create_url(project):
    return reverse("workflows:create", args=[project.team.slug, project.slug])


def test_alice_creates_a_workflow_from_a_wdl_file(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {"name": "Hello world", "source": upload("hello.wdl", HELLO)})
    workflow = Workflow.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == reverse("workflows:detail", args=[workflow.pk])
    version = workflow.versions.get()
    assert (version.number, version.wdl_name, version.wdl_version) == (1, "hello", "1.0")
    assert [i["name"] for i in version.inputs_spec] == ["hello.who"]
    assert version.source.read() == HELLO
    page = client.get(response["Location"]).content.decode()
    assert "teams/genomics/" in page and "alice-team-jobs" in page


def test_a_wdl_error_is_shown_with_line_and_column_and_nothing_is_written(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {"name": "Broken", "source": upload("broken.wdl", BROKEN)})
    assert response.status_code == 400
    page = response.content.decode()
    assert "broken.wdl:3:3:" in page
    assert "Traceback" not in page
    assert not Workflow.objects.exists() and not WorkflowVersion.objects.exists()


def test_a_binary_upload_is_refused_by_the_field(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {"name": "Bin", "source": upload("x.wdl", b"\xff\xfe\x00garbage")})
    assert response.status_code == 400
    assert "is not UTF-8 text" in response.content.decode()
    assert not Workflow.objects.exists()


def test_a_bad_imports_zip_is_refused(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {
        "name": "Zip", "source": upload("hello.wdl", HELLO), "imports": upload("imports.zip", b"not a zip"),
    })
    assert response.status_code == 400
    assert "zip" in response.content.decode()
    assert not Workflow.objects.exists()


def test_a_missing_name_is_shown_by_the_field(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {"name": "", "source": upload("hello.wdl", HELLO)})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


def test_an_import_from_the_zip_resolves(client, alice, project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lib/greet.wdl", b'version 1.0\ntask greet { input { String who } command <<< echo ~{who} >>> '
                                     b'output { String out = read_string(stdout()) } }\n')
    main = b'version 1.0\nimport "lib/greet.wdl" as lib\nworkflow w { call lib.greet { input: who = "x" } }\n'
    client.force_login(alice)
    response = client.post(create_url(project), {
        "name": "With imports", "source": upload("main.wdl", main), "imports": upload("deps.zip", buffer.getvalue()),
    })
    assert response.status_code == 302
    assert Workflow.objects.get().versions.get().imports.name.endswith(".zip")


def test_uploading_the_same_source_twice_keeps_one_version(client, alice, workflow):
    client.force_login(alice)
    url = reverse("workflows:version_upload", args=[workflow.pk])
    client.post(url, {"source": upload("hello.wdl", HELLO)})
    assert workflow.versions.count() == 1
    response = client.post(url, {"source": upload("hello.wdl", HELLO.replace(b"hello ~{who}", b"hi ~{who}"))})
    assert response.status_code == 302
    assert list(workflow.versions.values_list("number", flat=True)) == [2, 1]


def test_a_bad_version_upload_shows_the_error_on_the_workflow_page(client, alice, workflow):
    client.force_login(alice)
    response = client.post(reverse("workflows:version_upload", args=[workflow.pk]), {"source": upload("b.wdl", BROKEN)})
    assert response.status_code == 400
    assert "b.wdl:3:3:" in response.content.decode()
    assert workflow.versions.count() == 1


def test_bob_the_viewer_sees_the_workflow_but_no_upload_form(client, bob, workflow):
    client.force_login(bob)
    page = client.get(reverse("workflows:detail", args=[workflow.pk])).content.decode()
    assert "Hello" in page and "Upload a new version" not in page


def test_bob_gets_403_on_a_forged_upload(client, bob, workflow):
    client.force_login(bob)
    response = client.post(reverse("workflows:version_upload", args=[workflow.pk]),
                           {"source": upload("h.wdl", HELLO + b"# bob's")})
    assert response.status_code == 403
    assert workflow.versions.count() == 1


def test_carol_gets_404_on_every_page_of_alices_team(client, carol, other_team, workflow, project):
    client.force_login(carol)
    assert client.get(reverse("workflows:detail", args=[workflow.pk])).status_code == 404
    assert client.post(reverse("workflows:version_upload", args=[workflow.pk]),
                       {"source": upload("h.wdl", HELLO + b"# carol's")}).status_code == 404
    assert workflow.versions.count() == 1
    assert client.get(create_url(project)).status_code == 404
    assert client.post(create_url(project), {"name": "x", "source": upload("h.wdl", HELLO)}).status_code == 404
    assert not Workflow.objects.filter(name="x").exists()


def test_an_unknown_workflow_is_404(client, alice, team):
    client.force_login(alice)
    assert client.get(reverse("workflows:detail", args=[999999])).status_code == 404
