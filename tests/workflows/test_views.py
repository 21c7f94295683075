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


GREET = b'version 1.0\nimport "words.wdl"\ntask greet { input { String who } command <<< echo ~{who} >>> ' \
        b'output { String out = read_string(stdout()) } }\n'
SIBLING_MAIN = b'version 1.0\nimport "greet.wdl" as lib\nworkflow w { call lib.greet { input: who = "x" } }\n'


def test_the_imported_files_can_be_chosen_beside_the_main_file(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {
        "name": "Siblings", "source": upload("main.wdl", SIBLING_MAIN),
        "files": [upload("greet.wdl", GREET), upload("words.wdl", b"version 1.0\nstruct Word { String text }\n")],
    })
    assert response.status_code == 302, response.content.decode()
    with zipfile.ZipFile(Workflow.objects.get().versions.get().imports.open()) as kept:
        assert sorted(kept.namelist()) == ["greet.wdl", "words.wdl"]


def test_a_missing_imported_file_is_named_with_the_line_that_imports_it(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {
        "name": "Siblings", "source": upload("main.wdl", SIBLING_MAIN), "files": [upload("greet.wdl", GREET)],
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "greet.wdl:2:1: words.wdl is not in the imports zip" in page
    assert "2 | import &quot;words.wdl&quot;" in page
    assert not Workflow.objects.exists()


def test_files_and_a_zip_together_are_refused_by_the_field(client, alice, project):
    client.force_login(alice)
    response = client.post(create_url(project), {
        "name": "Both", "source": upload("main.wdl", SIBLING_MAIN), "files": [upload("greet.wdl", GREET)],
        "imports": upload("deps.zip", b"PK"),
    })
    assert response.status_code == 400
    assert "give the imported files or an imports zip, not both" in response.content.decode()
    assert not Workflow.objects.exists()


def test_a_new_version_takes_its_imported_files_too(client, alice, workflow):
    client.force_login(alice)
    response = client.post(reverse("workflows:version_upload", args=[workflow.pk]), {
        "source": upload("main.wdl", SIBLING_MAIN),
        "files": [upload("greet.wdl", GREET), upload("words.wdl", b"version 1.0\n")],
    })
    assert response.status_code == 302
    assert workflow.versions.get(number=2).imports.name.endswith(".zip")


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


@pytest.mark.parametrize("files, problem", [
    ({"../etc/x.wdl": b"x"}, "'../etc/x.wdl' is not a file name beside the main file"),
    ({"/abs.wdl": b"x"}, "'/abs.wdl' is not a file name beside the main file"),
    ({f"f{i}.wdl": b"x" for i in range(201)}, "201 files were given; at most 200 are allowed"),
])
def test_imported_files_are_checked_before_they_become_the_zip(files, problem):
    from django.core.exceptions import ValidationError

    from workflows.services import imports_zip

    with pytest.raises(ValidationError) as caught:
        imports_zip(files=files)
    assert caught.value.message_dict == {"files": [problem]}
