"""Run one WDL workflow through Batchsite's engine in this process, like `cromwell run`."""
import json
import logging
import re
import sys
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils.text import slugify

from batchsite.celery import app as celery_app
from teams.models import Project, Team
from teams.selectors import team_limits
from teams.services import project_create, team_create
from workflows import engine
from workflows.backends import provider_for
from workflows.models import Call, Run, Workflow
from workflows.services import imports_zip, run_submit, tick, workflow_version_create, wdl_check
from workflows.services.limits import MAX_OPTIONS_BYTES, json_load

CLI_TEAM = "cli"


class Command(BaseCommand):
    help = "Run a WDL workflow (or a lone task) to completion and print its outputs as Cromwell's JSON."

    def add_arguments(self, parser):
        parser.add_argument("wdl", help="the .wdl file")
        parser.add_argument("--inputs", help="inputs JSON; relative File paths resolve against its folder")
        parser.add_argument("--options", "-o", help="Cromwell workflow options JSON (as cromwell run -o); without "
                            "--team any well-formed aws_batch_job_role_arn and script prefix are taken")
        parser.add_argument("--imports", help="zip of the files the WDL imports (default: the imported files, "
                                                   "found next to the WDL file as cromwell run does)")
        parser.add_argument("--team", help="team slug, whose allowlist and prefix root then apply as on the web "
                            "and API (default: a 'cli' team of its own, for the operator)")
        parser.add_argument("--project", help="project slug in the team")
        parser.add_argument("--poll", type=float, default=0.1, help="seconds between polls")

    def handle(self, *args, **options):
        # The worker is this process: tasks run in place of being queued (and are queued again
        # afterwards, for whoever called the command in-process).
        before = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            self._run(**options)
        finally:
            celery_app.conf.task_always_eager = before

    def _run(self, *, wdl, inputs=None, options=None, imports=None, team=None, project=None, poll=0.1, **kw):
        for name in ("celery", "kombu"):
            logging.getLogger(name).setLevel(logging.ERROR)
        source = _read(wdl, "WDL file")
        try:
            if imports:
                zip_bytes = _read(imports, "imports zip")
            else:
                zip_bytes = imports_zip(files=_sibling_imports(Path(wdl), source))
        except ValidationError as exc:
            raise CommandError("imports: " + "; ".join(exc.messages)) from None
        try:
            doc = wdl_check(source=source, filename=Path(wdl).name, imports=zip_bytes)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        target_project = _project(team, project)
        limits = team_limits(target_project.team)
        inputs_json = _json_file(inputs, "inputs", limits["max_input_bytes_per_run"]) if inputs else {}
        if inputs:
            inputs_json = _resolve_files(doc, inputs_json, Path(inputs).resolve().parent)
        options_json = _json_file(options, "options", MAX_OPTIONS_BYTES) if options else {}
        workflow = _workflow(target_project, Path(wdl).stem)
        try:
            version = workflow_version_create(workflow=workflow, source=source, filename=Path(wdl).name,
                                              imports=zip_bytes)
            run = run_submit(version=version, user=None, inputs=inputs_json, options=options_json,
                             trusted=team is None)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {', '.join(v)}" if k != "__all__" else ", ".join(v)
                                         for k, v in exc.message_dict.items())) from None
        self.stderr.write(f"Run {run.id} of {doc.name} submitted ({run.root})")
        run = self._wait(run, poll)
        if run.status == Run.Status.SUCCEEDED:
            self.stdout.write(json.dumps(run.outputs, indent=2))
            return
        self._report_failure(run)
        sys.exit(1)

    def _wait(self, run: Run, poll: float) -> Run:
        shown = None
        while True:
            tick()
            run.refresh_from_db()
            counts = dict(Call.objects.filter(run=run).order_by().values_list("status").annotate(n=Count("pk")))
            line = f"{run.status}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            if line != shown:
                self.stderr.write(line)
                shown = line
            if not run.is_active:
                return run
            time.sleep(poll)

    def _report_failure(self, run: Run) -> None:
        self.stderr.write(f"Run {run.id} {run.status}")
        failed = Call.objects.filter(run=run, status=Call.Status.FAILED).order_by("ended").first()
        if failed:
            shard = f" shard {failed.shard_index}" if failed.shard_index >= 0 else ""
            self.stderr.write(f"Failed call: {failed.fqn}{shard} (attempt {failed.attempt}), "
                              f"return code {failed.return_code}")
            self.stderr.write(failed.failure)
        for failure in run.failures:
            self.stderr.write(failure["message"])


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _sibling_imports(main: Path, source: bytes) -> dict[str, bytes]:
    """Read what the WDL imports (and they import), relative to each importer, from main's folder down."""
    base = main.resolve().parent
    files: dict[str, bytes] = {}
    pending = [(base, main.name, source)]
    while pending:
        folder, importer, text = pending.pop()
        for uri in engine.imported_uris(text.decode("utf-8", "replace")):
            if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
                continue  # a URL: the engine refuses it, saying so
            path = (folder / uri).resolve()
            if not path.is_relative_to(base):
                raise CommandError(f"{importer} imports {uri}, which is outside {base}: imports are read from the "
                                   "WDL file's folder and below; zip them and pass --imports for another layout")
            name = path.relative_to(base).as_posix()
            if name not in files:
                files[name] = _read(str(path), f"file {uri} that {importer} imports,")
                pending.append((path.parent, name, files[name]))
    return files


def _json_file(path: str, what: str, max_bytes: int) -> dict:
    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        raise CommandError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if size > max_bytes:  # the team's limit, checked before the file is read
        raise CommandError(f"{path}: the {what} are {size:,} bytes; at most {max_bytes:,} are allowed")
    try:
        value = json_load(_read(path, f"{what} file"))
    except ValueError as exc:
        raise CommandError(f"{path}: the {what} are {exc}") from None
    if not isinstance(value, dict):
        raise CommandError(f"{path}: the {what} must be a JSON object")
    return value


def _resolve_files(doc, inputs: dict, base: Path) -> dict:
    """Make relative File and Directory inputs absolute against the inputs file's folder."""
    def absolute(path: str) -> str:
        return path if "://" in path or path.startswith("/") else str(base / path)

    try:
        return doc.map_input_files(inputs, absolute)
    except engine.InputError as exc:
        raise CommandError(f"inputs: {exc}") from None


def _project(team_slug: str | None, project_slug: str | None) -> Project:
    if team_slug:
        if not project_slug:
            raise CommandError(f"--team {team_slug} needs --project: the slug of one of its projects")
        project = Project.objects.filter(team__slug=team_slug, slug=project_slug or "").select_related("team").first()
        if project is None:
            raise CommandError(f"no project {project_slug!r} in team {team_slug!r}")
        return project
    with transaction.atomic():
        team = Team.objects.filter(slug=CLI_TEAM).first() or team_create(
            name="Command line", slug=CLI_TEAM, max_running_jobs=provider_for().concurrent_job_limit or 16)
        return Project.objects.filter(team=team, slug="runs").first() or project_create(
            team=team, name="Runs", slug="runs")


def _workflow(project: Project, stem: str) -> Workflow:
    slug = slugify(stem)[:50] or "workflow"
    workflow, _ = Workflow.objects.get_or_create(project=project, slug=slug, defaults={"name": stem})
    return workflow
