"""Retention: the beat's cleanup deletes exactly the expired scripts of finished runs (local storage).

tests/aws/test_retention.py runs the same scenario against moto's S3.
"""
import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from teams.models import AuditEvent, Membership
from teams.services import membership_set, project_create, team_create, user_create
from tests.workflows.ui_factories import hello_workflow
from workflows import tasks
from workflows.backends import provider_for
from workflows.models import CleanupReport, RetentionPolicy, Run, Script
from workflows.services.retention import team_retention_preview

DAY = dt.timedelta(days=1)


class LocalStore:
    """Batchsite's own storage, where the local backend keeps its scripts."""

    bucket = ""

    def put(self, key: str, body: bytes) -> None:
        if default_storage.exists(key):
            default_storage.delete(key)
        default_storage.save(key, ContentFile(body))

    def sizes(self, prefix: str) -> dict[str, int]:
        found, folders = {}, [prefix.rstrip("/")]
        while folders:
            folder = folders.pop()
            try:
                dirs, files = default_storage.listdir(folder)
            except FileNotFoundError:
                continue
            folders += [f"{folder}/{d}" for d in dirs]
            found.update((f"{folder}/{n}", default_storage.size(f"{folder}/{n}")) for n in files)
        return found


@dataclass
class Scenario:
    """Three teams' scripts of various ages, and what the cleanup must delete and keep."""

    store: object
    teams: list
    expired: dict[str, int] = field(default_factory=dict)  # key -> size
    kept: dict[str, int] = field(default_factory=dict)

    def stored(self) -> dict[str, int]:
        found = {}
        for prefix in ("teams/", "elsewhere/"):
            found.update(self.store.sizes(prefix))
        return found


def make_run(workflow, *, status, ended_days_ago, backend: str, root: str) -> Run:
    run_id = uuid.uuid4()
    team = workflow.project.team
    ended = timezone.now() - ended_days_ago * DAY if status in Run.TERMINAL else None
    return Run.objects.create(
        id=run_id, version=workflow.versions.get(), team=team, project=workflow.project, status=status,
        script_prefix=f"{team.prefix_root}{workflow.project.slug}/", job_role_arn=team.default_role_arn,
        backend=backend, root=f"{root}/hello/{run_id}", ended=ended)


def add_script(scenario: Scenario, run: Run, name: str, size: int, *, days_old: float, expired: bool) -> str:
    key = f"{run.script_prefix}{name}"
    if key not in scenario.expired and key not in scenario.kept:
        scenario.store.put(key, b"#" * size)
    Script.objects.create(run=run, team=run.team, bucket=scenario.store.bucket, key=key, size=size)
    Script.objects.filter(run=run, key=key).update(created=timezone.now() - days_old * DAY)
    if expired:
        scenario.expired[key] = size
    else:
        scenario.expired.pop(key, None)
        scenario.kept[key] = size
    return key


def build_scenario(store, *, backend: str, root: str) -> Scenario:
    """Per team: an old finished run (expired), a recent one (kept), an old active run (kept), a shared script.

    The third team's policy keeps scripts 7 days only; a foreign object sits under every team's
    prefix and another outside them all.
    """
    tag = uuid.uuid4().hex[:8]  # storage outlives a test: keys of this test only
    user = user_create(username=f"owner-{tag}", password="pw")
    scenario = Scenario(store=store, teams=[])
    for n, days in enumerate((None, None, 7)):
        team = team_create(name=f"Team {n} {tag}", slug=f"t{n}-{tag}", prefix_root=f"teams/t{n}-{tag}/")
        membership_set(team=team, user=user, role=Membership.Role.ADMIN)
        if days:
            RetentionPolicy.objects.create(team=team, script_days=days)
        project = project_create(team=team, name="Exomes", slug="exomes")
        workflow = hello_workflow(project, user)
        scenario.teams.append(team)
        old = make_run(workflow, status=Run.Status.SUCCEEDED, ended_days_ago=40, backend=backend, root=root)
        failed = make_run(workflow, status=Run.Status.FAILED, ended_days_ago=10, backend=backend, root=root)
        recent = make_run(workflow, status=Run.Status.SUCCEEDED, ended_days_ago=2, backend=backend, root=root)
        active = make_run(workflow, status=Run.Status.RUNNING, ended_days_ago=0, backend=backend, root=root)
        add_script(scenario, old, "old-a", 100 + n, days_old=40, expired=True)
        add_script(scenario, old, "old-b", 2000 + n, days_old=40, expired=True)
        add_script(scenario, failed, "ten-days", 300 + n, days_old=10, expired=days == 7)
        add_script(scenario, recent, "recent", 50 + n, days_old=2, expired=False)
        add_script(scenario, active, "active-old", 70 + n, days_old=40, expired=False)
        shared = add_script(scenario, old, "shared", 90 + n, days_old=40, expired=True)
        add_script(scenario, active, "shared", 90 + n, days_old=40, expired=False)
        assert shared in scenario.kept
        store.put(f"{team.prefix_root}exomes/foreign", b"f" * 11)  # no Script row: not Batchsite's
        scenario.kept[f"{team.prefix_root}exomes/foreign"] = 11
    store.put(f"elsewhere/{tag}/foreign", b"f" * 13)
    scenario.kept[f"elsewhere/{tag}/foreign"] = 13
    return scenario


def check_beat_cleanup(scenario: Scenario) -> None:
    """Run the beat task twice: the first deletes exactly the expired scripts, the second nothing."""
    before = {k: v for k, v in scenario.stored().items() if k in scenario.expired or k in scenario.kept}
    assert before == {**scenario.expired, **scenario.kept}
    previews = {t.pk: team_retention_preview(team=t) for t in scenario.teams}

    tasks.cleanup_old_scripts_task()

    after = scenario.stored()
    lost = {k: v for k, v in before.items() if k not in after}
    assert lost == scenario.expired
    assert all(k in after for k in scenario.kept)
    reports = {r.team_id: r for r in CleanupReport.objects.filter(team__in=scenario.teams, dry_run=False)}
    assert sum(r.deleted_objects for r in reports.values()) == len(lost)
    assert sum(r.deleted_bytes for r in reports.values()) == sum(lost.values())
    for team in scenario.teams:
        lost_here = {k: v for k, v in lost.items() if k.startswith(team.prefix_root)}
        report = reports[team.pk]
        assert (report.deleted_objects, report.deleted_bytes, report.errors) == (len(lost_here), sum(lost_here.values()), [])
        assert (previews[team.pk].deleted_objects, previews[team.pk].deleted_bytes) == (len(lost_here), sum(lost_here.values()))
        event = AuditEvent.objects.get(team=team, action=AuditEvent.Action.CLEANUP)
        assert event.details["scripts"] == len(lost_here) and event.user is None
    # The rows of deleted scripts are gone; those of kept ones stay.
    assert not Script.objects.filter(key__in=list(lost)).exists()
    assert Script.objects.filter(key__in=[k for k in scenario.kept if "foreign" not in k]).count() >= 3 * 3

    tasks.cleanup_old_scripts_task()  # a repeat deletes nothing more

    assert scenario.stored() == after
    again = CleanupReport.objects.filter(team__in=scenario.teams, dry_run=False).order_by("-pk")[:3]
    assert [(r.deleted_objects, r.deleted_bytes) for r in again] == [(0, 0)] * 3
    assert AuditEvent.objects.filter(team__in=scenario.teams, action=AuditEvent.Action.CLEANUP).count() == 3


def test_the_beat_cleanup_deletes_exactly_the_expired_scripts_in_batchsites_storage(db):
    provider = provider_for()
    assert provider.kind == "local"
    scenario = build_scenario(LocalStore(), backend=provider.name, root="/nonexistent")
    check_beat_cleanup(scenario)


def test_a_preview_deletes_nothing(db):
    provider = provider_for()
    scenario = build_scenario(LocalStore(), backend=provider.name, root="/nonexistent")
    before = scenario.stored()
    report = team_retention_preview(team=scenario.teams[2])
    assert report.dry_run and report.deleted_objects == 3  # old-a, old-b, ten-days; not the shared one
    assert report.deleted_bytes == 102 + 2002 + 302
    assert scenario.stored() == before
    assert Script.objects.filter(team__in=scenario.teams).count() == 3 * 7


def test_call_directories_of_runs_past_call_dir_days_are_cleaned_up_once(db):
    from pathlib import Path

    from workflows.backends import local_root
    from workflows.services.retention import team_call_dirs_expire

    alice = user_create(username="alice", password="pw")
    team = team_create(name="Dirs", slug="dirs", prefix_root="teams/dirs/")
    membership_set(team=team, user=alice, role=Membership.Role.ADMIN)
    workflow = hello_workflow(project_create(team=team, name="Exomes", slug="exomes"), alice)
    root = local_root(provider_for("Local"))
    runs = {name: make_run(workflow, status=status, ended_days_ago=days, backend="Local", root=root)
            for name, status, days in [("old", Run.Status.SUCCEEDED, 10), ("recent", Run.Status.FAILED, 2),
                                       ("active", Run.Status.RUNNING, 0)]}
    for run in runs.values():
        execution = Path(run.root) / "call-greet" / "attempt-1" / "execution"
        execution.mkdir(parents=True)
        (execution / "stdout").write_text("hello\n")
    RetentionPolicy.objects.create(team=team, script_days=30, call_dir_days=7)

    assert [r.pk for r in team_call_dirs_expire(team=team)] == [runs["old"].pk]
    assert team_call_dirs_expire(team=team) == []

    assert not Path(runs["old"].root).exists()
    assert Path(runs["recent"].root, "call-greet").exists() and Path(runs["active"].root, "call-greet").exists()
    assert AuditEvent.objects.filter(team=team, action="cleanup", target=f"run {runs['old'].pk}").count() == 1
