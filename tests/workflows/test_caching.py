"""Call caching on the local backend: hits, misses, options, tenancy, invalidation."""
import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from batchsite.config import get_config
from teams.services import project_create
from tests.runs import Eager, drive, submit
from workflows.backends import backend_for
from workflows.models import CacheEntry, Call, Run
from workflows.services import run_submit
from workflows.services.cleanup import run_cleanup

CHAIN = """version 1.0
workflow wf {
  input { Array[String] words  File ref }
  scatter (w in words) { call shout { input: word = w, ref = ref } }
  call join { input: parts = shout.out }
  output { File joined = join.out  Array[File] parts = shout.out }
}
task shout {
  input { String word  File ref }
  command <<< echo "~{word} $(cat ~{ref})" | tr a-z A-Z > out.txt >>>
  output { File out = "out.txt" }
}
task join {
  input { Array[File] parts }
  command <<< cat ~{sep=" " parts} > joined.txt >>>
  output { File out = "joined.txt" }
}
"""


def write_config(path: Path, *, enabled=True, strategy='["hard-link", "copy"]') -> str:
    path.write_text(f"""
call-caching {{ enabled = {str(enabled).lower()} }}
backend {{
  default = "Local"
  providers {{ Local {{
    actor-factory = "cromwell.backend.impl.sfs.config.ConfigBackendLifecycleActorFactory"
    config {{ root = "{path.parent}/executions"
              filesystems.local.caching.duplication-strategy = {strategy} }}
  }} }}
}}
""")
    return str(path)


@pytest.fixture
def caching_on(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHSITE_CONFIG", write_config(tmp_path / "batchsite.conf"))
    get_config.cache_clear()
    backend_for.cache_clear()
    yield tmp_path
    get_config.cache_clear()
    backend_for.cache_clear()


@pytest.fixture
def ref(tmp_path) -> str:
    path = tmp_path / "ref.txt"
    path.write_text("ref\n")
    return str(path)


def run_chain(project, user, ref, words=("a", "b", "c"), options=None, name="wf") -> Run:
    with Eager():
        run = submit(project, user, CHAIN, {"wf.words": list(words), "wf.ref": ref}, options, name=name)
        return drive(run)


def calls(run) -> list[Call]:
    return list(Call.objects.filter(run=run).order_by("fqn", "shard_index"))


def launched(call: Call) -> bool:
    """Whether a process was ever started for the call (the local backend's script and launch files)."""
    return (Path(call.call_dir) / "execution" / "launch").exists()


def test_a_rerun_reuses_every_call_without_a_process(caching_on, project, alice, ref):
    first = run_chain(project, alice, ref)
    assert first.status == "Succeeded", first.failures
    assert CacheEntry.objects.filter(run=first).count() == 4
    second = run_chain(project, alice, ref, name="wf2")
    assert second.status == "Succeeded", second.failures
    reused = calls(second)
    assert len(reused) == 4
    for call, source in zip(reused, calls(first)):
        assert call.cached_from_id == source.pk and call.cache_result.startswith(f"Cache Hit: {first.pk}")
        assert not launched(call)  # no process ran
        out = call.outputs["out"]
        assert out.startswith(call.call_dir + "/") and Path(out).read_text() == Path(source.outputs["out"]).read_text()
        assert (Path(call.call_dir) / "execution" / "rc").read_text().strip() == "0"
    assert Path(second.outputs["wf.joined"]).read_text() == "A REF\nB REF\nC REF\n"
    assert Path(second.outputs["wf.joined"]).read_text() == Path(first.outputs["wf.joined"]).read_text()


def test_changing_one_scatter_input_reruns_only_that_shard_and_what_uses_it(caching_on, project, alice, ref):
    first = run_chain(project, alice, ref)
    second = run_chain(project, alice, ref, words=("a", "x", "c"), name="wf2")
    assert second.status == "Succeeded", second.failures
    ran = {(c.fqn, c.shard_index) for c in calls(second) if launched(c)}
    assert ran == {("wf.shout", 1), ("wf.join", -1)}
    assert Path(second.outputs["wf.joined"]).read_text() == "A REF\nX REF\nC REF\n"
    assert first.status == "Succeeded"


def test_changed_file_content_is_a_miss(caching_on, project, alice, ref):
    run_chain(project, alice, ref)
    Path(ref).write_text("other\n")
    second = run_chain(project, alice, ref, name="wf2")
    assert all(launched(c) for c in calls(second))
    assert Path(second.outputs["wf.joined"]).read_text() == "A OTHER\nB OTHER\nC OTHER\n"


def test_read_from_cache_false_reruns_all_and_write_to_cache_false_leaves_no_entries(caching_on, project, alice, ref):
    first = run_chain(project, alice, ref, options={"write_to_cache": False})
    assert first.status == "Succeeded" and not CacheEntry.objects.exists()
    run_chain(project, alice, ref, name="wf2")
    assert CacheEntry.objects.count() == 4
    third = run_chain(project, alice, ref, options={"read_from_cache": False}, name="wf3")
    assert all(launched(c) for c in calls(third)) and all(c.cached_from_id is None for c in calls(third))
    assert CacheEntry.objects.count() == 8  # it still writes


def test_caching_off_in_the_config_or_for_the_team_reruns_all(caching_on, project, alice, ref, team, monkeypatch):
    run_chain(project, alice, ref)
    team.call_caching = False
    team.save()
    second = run_chain(project, alice, ref, name="wf2")
    assert all(launched(c) for c in calls(second)) and CacheEntry.objects.count() == 4
    team.call_caching = True
    team.save()
    monkeypatch.setenv("BATCHSITE_CONFIG", write_config(caching_on / "off.conf", enabled=False))
    get_config.cache_clear()
    backend_for.cache_clear()
    third = run_chain(project, alice, ref, name="wf3")
    assert all(launched(c) for c in calls(third)) and all(c.cache_result == "" for c in calls(third))


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_caching_option_must_be_a_boolean(caching_on, project, alice, value, tmp_path):
    from workflows.services import workflow_create
    version = workflow_create(project=project, name="wf", source=CHAIN.encode(), user=alice).versions.get()
    with pytest.raises(ValidationError) as exc_info:
        run_submit(version=version, user=alice, inputs={"wf.words": [], "wf.ref": str(tmp_path / "x")},
                   options={"read_from_cache": value})
    assert "read_from_cache option must be true or false" in str(exc_info.value.message_dict["read_from_cache"])
    assert not Run.objects.exists()


def _share(team, group, prefixes):
    team.cache_sharing_opt_in, team.cache_sharing_group, team.cache_readable_prefixes = True, group, prefixes
    team.save()


def test_another_team_never_hits_unless_both_share_and_may_read(caching_on, project, alice, carol, team, other_team, ref):
    first = run_chain(project, alice, ref)
    carol_project = project_create(team=other_team, name="P", slug="p")
    second = run_chain(carol_project, carol, ref, name="wf2")
    assert all(launched(c) for c in calls(second))  # the same hashes, another team: no hit
    root = str(caching_on / "executions") + "/"
    CacheEntry.objects.exclude(run=first).delete()  # carol's own results would be hits
    _share(other_team, "lab", [root])  # carol's admin alone opts in: still no hit
    third = run_chain(carol_project, carol, ref, name="wf3")
    assert all(launched(c) for c in calls(third))
    CacheEntry.objects.exclude(run=first).delete()
    _share(team, "lab", [])
    _share(other_team, "lab", ["/somewhere/else/"])  # both opted in, but carol's jobs may not read there
    CacheEntry.objects.exclude(run=first).delete()
    fourth = run_chain(carol_project, carol, ref, name="wf4")
    assert all(launched(c) for c in calls(fourth))
    CacheEntry.objects.exclude(run=first).delete()
    team.cache_sharing_group = "another-lab"  # both opted in, into different groups
    team.save()
    assert all(launched(c) for c in calls(run_chain(carol_project, carol, ref, name="wf4b")))
    CacheEntry.objects.exclude(run=first).delete()
    _share(team, "lab", [])
    _share(other_team, "lab", [root])
    fifth = run_chain(carol_project, carol, ref, name="wf5")
    assert not any(launched(c) for c in calls(fifth))
    assert {c.cached_from.run_id for c in calls(fifth)} == {first.pk}
    # Both ways: alice's team, allowed to read there too, reuses carol's team's results.
    CacheEntry.objects.filter(team=team).delete()
    _share(team, "lab", [root])
    sixth = run_chain(project, alice, ref, name="wf6")
    assert not any(launched(c) for c in calls(sixth))
    assert {c.cached_from.run.team_id for c in calls(sixth)} == {other_team.pk}


def test_a_hit_on_deleted_files_invalidates_the_entry_and_runs_the_call(caching_on, project, alice, ref):
    first = run_chain(project, alice, ref)
    gone = Call.objects.get(run=first, fqn="wf.shout", shard_index=0)
    os.remove(gone.outputs["out"])
    second = run_chain(project, alice, ref, name="wf2")
    assert second.status == "Succeeded", second.failures
    ran = {(c.fqn, c.shard_index) for c in calls(second) if launched(c)}
    assert ran == {("wf.shout", 0)}
    assert not CacheEntry.objects.get(call=gone).valid
    assert Path(second.outputs["wf.joined"]).read_text() == "A REF\nB REF\nC REF\n"


def test_cleanup_of_a_run_removes_its_entries(caching_on, project, alice, ref):
    first = run_chain(project, alice, ref)
    run_cleanup(run=first, user=alice)
    assert not CacheEntry.objects.filter(run=first).exists()
    second = run_chain(project, alice, ref, name="wf2")
    assert all(launched(c) for c in calls(second)) and second.status == "Succeeded"


def test_the_run_page_marks_cached_calls_and_counts_the_time_saved(caching_on, project, alice, ref, client):
    first = run_chain(project, alice, ref)
    second = run_chain(project, alice, ref, name="wf2")
    client.force_login(alice)
    page = client.get(f"/runs/{second.pk}/").content.decode()
    assert "4 cache hits" in page and "of job time saved" in page
    assert page.count(f'href="/runs/{first.pk}/"') == 4 and page.count("Cached from") == 4
    assert "4 cache hits" not in client.get(f"/runs/{first.pk}/").content.decode()


def test_an_unhashable_call_says_why_caching_is_off_for_it(caching_on, project, alice, ref, client):
    first = run_chain(project, alice, ref)
    Call.objects.filter(run=first).update(cache_result="Cache Miss: the docker image x:1 could not be resolved "
                                          "to a digest, so call caching is off for this call (Cromwell's rule)")
    client.force_login(alice)
    page = client.get(f"/runs/{first.pk}/").content.decode()
    assert page.count("Call caching: Cache Miss: the docker image x:1 could not be resolved") == 4


def test_team_admins_switch_caching_and_sharing_and_others_cannot(client, alice, bob, carol, team):
    client.force_login(bob)  # a viewer sees the settings, and cannot change them
    assert "Reuse the results of identical earlier calls" in client.get("/teams/genomics/caching/").content.decode()
    assert client.post("/teams/genomics/caching/", {"share": "on"}).status_code == 403
    client.force_login(carol)
    assert client.get("/teams/genomics/caching/").status_code == 404
    assert client.post("/teams/genomics/caching/", {"share": "on"}).status_code == 404
    team.refresh_from_db()
    assert (team.call_caching, team.cache_sharing_opt_in) == (True, False)
    client.force_login(alice)
    assert client.post("/teams/genomics/caching/", {"share": "on"}).status_code == 302
    team.refresh_from_db()
    assert (team.call_caching, team.cache_sharing_opt_in) == (False, True)
    event = team.audit_events.get(action="team_change")
    assert event.details["changes"]["call_caching"] == {"old": True, "new": False}


@pytest.mark.parametrize("prefixes, ok", [
    (["s3://lab-data/shared/", "/data/shared/"], True),
    (["relative/path"], False), (["s3://Bad_Bucket/x"], False), (["/data/../etc"], False), (["/x"] * 51, False),
])
def test_readable_prefixes_are_checked(prefixes, ok):
    from teams.services import readable_prefixes_validate
    if ok:
        assert readable_prefixes_validate(prefixes) == prefixes
    else:
        with pytest.raises(ValidationError) as exc_info:
            readable_prefixes_validate(prefixes)
        assert "cache_readable_prefixes" in exc_info.value.message_dict


@pytest.mark.django_db(transaction=True)
def test_run_wdl_honours_the_config_and_the_caching_options(caching_on, ref):
    import io
    import json

    from django.core.management import call_command

    wdl, inputs = caching_on / "chain.wdl", caching_on / "inputs.json"
    wdl.write_text(CHAIN)
    inputs.write_text(json.dumps({"wf.words": ["a", "b"], "wf.ref": ref}))

    def run_wdl(*options) -> Run:
        out = io.StringIO()
        call_command("run_wdl", str(wdl), "--inputs", str(inputs), "--poll", "0.02", *options, stdout=out)
        assert json.loads(out.getvalue())["wf.joined"]
        return Run.objects.order_by("-submitted").first()

    run_wdl()
    second = run_wdl()
    assert len(calls(second)) == 3 and not any(launched(c) for c in calls(second))
    options = caching_on / "options.json"
    options.write_text(json.dumps({"read_from_cache": False}))
    third = run_wdl("--options", str(options))
    assert all(launched(c) for c in calls(third))
