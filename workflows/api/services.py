"""Writes made through the Cromwell API: submissions (project by label, workflow by WDL name) and labels."""
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from teams.models import Membership, Project
from workflows.api.forms import Submission
from workflows.api.http import ApiError
from workflows.models import Run, Workflow
from workflows.services import wdl_check, workflow_version_create
from workflows.services.batches import BatchRow, batch_admit, run_batch_submit
from workflows.services.limits import PROJECT_LABEL
from workflows.services.runs import run_labels_set


def api_project_resolve(*, user, labels: dict) -> Project:
    """Return where a submission lands: the batchsite-project label's team/project, else the user's default.

    The default is the first project (by name) of the first team (by name) where the user may submit.
    """
    memberships = Membership.objects.filter(user=user).select_related("team")
    if not memberships.exists():
        raise ApiError(400, f"User {user.get_username()} is in no team: ask an operator to add you to one "
                            "before submitting")
    wanted = labels.get(PROJECT_LABEL)
    if wanted is not None and (not isinstance(wanted, str) or len(wanted) > 255 or "\x00" in wanted):
        raise ApiError(400, f"Label {PROJECT_LABEL} must be a string team-slug/project-slug")
    if wanted:
        team_slug, sep, project_slug = wanted.partition("/")
        project = (Project.objects.filter(team__slug=team_slug, slug=project_slug, team__memberships__user=user)
                   .select_related("team").first() if sep else None)
        if project is None:
            raise ApiError(400, f"Label {PROJECT_LABEL}={wanted!r} names no project of your teams "
                                "(the form is team-slug/project-slug)")
        if not memberships.get(team=project.team).can_submit:
            raise PermissionDenied(f"You are a viewer in team {project.team.slug}: viewers cannot submit")
        return project
    submitters = [m.team_id for m in memberships if m.can_submit]
    project = (Project.objects.filter(team_id__in=submitters).select_related("team")
               .order_by("team__name", "team__pk", "name", "pk").first())
    if project is None:
        raise ApiError(400, "None of your teams has a project you can submit to: ask a team admin for a project "
                            f"(or the scientist role), or name one with the {PROJECT_LABEL} label")
    return project


def api_workflow_get_or_create(*, project: Project, name: str, user) -> Workflow:
    """Return the project's workflow named after the WDL's workflow, creating it on first submission."""
    slug = slugify(name)[:50] or "workflow"
    for _ in range(2):  # a concurrent submission may create it between the two lines
        workflow = Workflow.objects.filter(project=project, slug=slug).first()
        if workflow is not None:
            return workflow
        try:
            with transaction.atomic():
                return Workflow.objects.create(project=project, name=name[:100], slug=slug, created_by=user,
                                               description="Created by a submission through the Cromwell API.")
        except IntegrityError:
            continue
    raise ApiError(503, "The workflow is being created by another submission; try again", kind="error")


def api_submit(*, user, project: Project, submission: Submission) -> list[Run]:
    """Start one run per inputs object of the submission in the project (api_project_resolve's), all or none."""
    batch_admit(team=project.team, count=len(submission.inputs))  # before the WDL is read and a version made
    doc = wdl_check(source=submission.source, filename=submission.filename, imports=submission.imports)
    taken = [str(i) for i in Run.objects.filter(pk__in=[i for i in submission.run_ids if i]).values_list("pk", flat=True)]
    if taken:
        raise ApiError(400, f"Requested workflow IDs are already in use: {', '.join(taken)}")
    workflow = api_workflow_get_or_create(project=project, name=doc.name, user=user)
    version = workflow_version_create(workflow=workflow, source=submission.source, filename=submission.filename,
                                      imports=submission.imports, user=user)
    rows = [BatchRow(inputs=inputs, labels=submission.labels, run_id=run_id, name=f"workflow {index + 1} of the batch")
            for index, (inputs, run_id) in enumerate(zip(submission.inputs, submission.run_ids))]
    try:
        runs = run_batch_submit(version=version, user=user, rows=rows, options=submission.options,
                                on_hold=submission.on_hold)
    except IntegrityError:
        raise ApiError(400, "Requested workflow IDs are already in use") from None
    return runs


def run_labels_update(*, run: Run, user, labels: dict) -> Run:
    """Add or change labels of a run (Cromwell's PATCH), by the rules of the run page's label editor."""
    try:
        return run_labels_set(run=run, user=user, labels=labels)
    except ValidationError as exc:
        raise ApiError(400, ",".join(exc.messages), exc.messages) from None
