"""Which host files a run may take as inputs: its folders, its team's runs, never another team's or Batchsite's own."""
import os

import pytest
from django.core.exceptions import ValidationError

from teams.services import project_create
from tests.runs import Eager, drive, submit
from workflows.models import Run

READ_IN_WORKFLOW = """version 1.0
workflow w { input { File f } String s = read_string(f) output { String o = s } }
"""
READ_IN_TASK = """version 1.0
workflow w { input { Array[File] fs } call t { input: fs = fs } output { String o = t.o } }
task t { input { Array[File] fs } command <<< cat ~{sep=" " fs} >>> output { String o = read_string(stdout()) } }
"""
WRITE = """version 1.0
workflow w { call t output { File out = t.out } }
task t { command <<< echo secret > out.txt >>> output { File out = "out.txt" } }
"""


@pytest.fixture
def shared(tmp_path, settings):
    """A folder runs may read from, and nothing else on the host."""
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "sample.txt").write_text("ACGT")
    settings.BATCHSITE_INPUT_PATHS = [str(folder)]
    return folder


def refused(project, user, wdl, inputs) -> str:
    before = Run.objects.count()
    with pytest.raises(ValidationError) as caught:
        submit(project, user, wdl, inputs=inputs)
    assert Run.objects.count() == before  # nothing half-written
    return " ".join(caught.value.message_dict["inputs"])


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/hostname"])
def test_a_host_file_outside_the_input_folders_is_refused_at_submission_naming_the_input(project, alice, shared, path):
    message = refused(project, alice, READ_IN_WORKFLOW, {"w.f": path})

    assert f"w.f: {path} is not in a folder runs may read from (BATCHSITE_INPUT_PATHS: {shared})" in message


@pytest.mark.django_db
def test_a_file_in_an_input_folder_is_read(project, alice, shared):
    with Eager():
        run = drive(submit(project, alice, READ_IN_WORKFLOW, inputs={"w.f": str(shared / "sample.txt")}))

    assert run.status == Run.Status.SUCCEEDED and run.outputs == {"w.o": "ACGT"}


@pytest.mark.django_db
def test_a_link_in_an_input_folder_to_a_file_outside_is_refused(project, alice, shared):
    (shared / "link.txt").symlink_to("/etc/hostname")

    message = refused(project, alice, READ_IN_TASK, {"w.fs": [str(shared / "sample.txt"), str(shared / "link.txt")]})

    assert f"w.fs: {shared / 'link.txt'} is not in a folder runs may read from" in message
    assert "sample.txt" not in message


@pytest.mark.django_db
def test_batchsites_own_files_are_refused_even_inside_an_input_folder(project, alice, settings):
    own = os.path.join(settings.VAR_DIR, "batchsite.sqlite3")
    settings.BATCHSITE_INPUT_PATHS = [os.path.dirname(settings.VAR_DIR)]

    message = refused(project, alice, READ_IN_WORKFLOW, {"w.f": own})

    assert f"w.f: {own} is one of Batchsite's own files" in message


@pytest.mark.django_db
def test_a_runs_output_is_an_input_for_its_team_only(project, alice, carol, other_team, shared):
    with Eager():
        first = drive(submit(project, alice, WRITE))
        output = first.outputs["w.out"]
        assert first.status == Run.Status.SUCCEEDED and open(output).read() == "secret\n"
        again = drive(submit(project_create(team=project.team, name="Other", slug="other"), alice, READ_IN_WORKFLOW,
                             inputs={"w.f": output}, name="again"))
    assert again.status == Run.Status.SUCCEEDED and again.outputs == {"w.o": "secret"}

    message = refused(project_create(team=other_team, name="Carol's", slug="carols"), carol, READ_IN_WORKFLOW,
                      {"w.f": output})

    assert f"w.f: {output} is a file of another team's run" in message


@pytest.mark.django_db
def test_run_wdl_on_its_own_team_reads_any_host_file(project, alice, shared):
    version = submit(project, alice, READ_IN_WORKFLOW, inputs={"w.f": str(shared / "sample.txt")}).version
    from workflows.services import run_submit

    run = run_submit(version=version, user=alice, inputs={"w.f": "/etc/hostname"}, trusted=True)

    assert run.inputs == {"w.f": "/etc/hostname"}


READ_IN_DECLARATION = """version 1.0
workflow w { input { File f } call t { input: f = f } output { String o = t.o } }
task t { input { File f } String s = read_string(f) command <<< echo "~{s}" >>> output { String o = read_string(stdout()) } }
"""


def _swapped_for_a_link(path, target) -> None:
    """Make path a link to target: what a team that can write to an input folder could do after submitting."""
    path.unlink()
    path.symlink_to(target)


@pytest.mark.django_db
@pytest.mark.parametrize("wdl", [READ_IN_WORKFLOW, READ_IN_DECLARATION, READ_IN_TASK])
@pytest.mark.parametrize("target, why", [("var", "is one of Batchsite's own files"),
                                         ("/etc/hostname", "is not in a folder runs may read from")])
def test_an_input_made_a_link_after_submission_is_refused_when_it_is_read(project, alice, shared, settings, wdl,
                                                                          target, why):
    if target == "var":
        target = os.path.join(settings.VAR_DIR, "secret.txt")
        with open(target, "w") as f:
            f.write("the site's own")
    sample = shared / "sample.txt"
    with Eager():
        inputs = {"w.fs": [str(sample)]} if wdl == READ_IN_TASK else {"w.f": str(sample)}
        run = submit(project, alice, wdl, inputs=inputs)  # checked: a plain file in the folder
        _swapped_for_a_link(sample, target)
        run = drive(run)

    assert run.status == Run.Status.FAILED and run.outputs is None
    message = " ".join(failure["message"] for failure in run.failures)
    assert f"{sample} {why}" in message, message


@pytest.mark.django_db
def test_run_wdl_on_its_own_team_reads_a_host_file_a_link_points_to_when_read(project, alice, shared):
    version = submit(project, alice, READ_IN_WORKFLOW, inputs={"w.f": str(shared / "sample.txt")}).version
    from workflows.services import run_submit

    with Eager():
        run = run_submit(version=version, user=alice, inputs={"w.f": str(shared / "sample.txt")}, trusted=True)
        _swapped_for_a_link(shared / "sample.txt", "/etc/hostname")
        run = drive(run)

    assert run.status == Run.Status.SUCCEEDED and run.outputs["w.o"] == open("/etc/hostname").read().strip()
