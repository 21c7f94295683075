"""Writes through WES: a run lands where the Cromwell API would put it, through the same submission services."""
from django.db import transaction

from teams.models import Project
from workflows.services.limits import PROJECT_LABEL
from workflows.api.services import api_project_resolve, api_workflow_get_or_create
from workflows.models import Run
from workflows.services import run_abort, run_submit, wdl_check, workflow_version_create
from workflows.services.budgets import budget_check
from workflows.services.limits import queued_runs_check
from workflows.wes.errors import WesError
from workflows.wes.run_request import RunRequest


def wes_project_resolve(*, user, run_request: RunRequest) -> Project:
    """Return the project a run lands in: the batchsite-project tag or engine parameter, else the user's default.

    The default (the Cromwell API's): the first project by name of the first team by name where the user may submit.
    """
    tag, parameter = run_request.tags.get(PROJECT_LABEL), run_request.options.get(PROJECT_LABEL)
    if tag is not None and parameter is not None and tag != parameter:
        raise WesError(400, f"The {PROJECT_LABEL} tag ({str(tag)[:100]!r}) and workflow engine parameter "
                            f"({str(parameter)[:100]!r}) name different projects: give one")
    wanted = tag if tag is not None else parameter
    return api_project_resolve(user=user, labels={} if wanted is None else {PROJECT_LABEL: wanted})


def wes_run_submit(*, user, run_request: RunRequest) -> Run:
    """Start a run of the attached workflow in the user's project, within the team's limits and budgets; all or none."""
    project = wes_project_resolve(user=user, run_request=run_request)
    labels, options = dict(run_request.tags), dict(run_request.options)
    if PROJECT_LABEL in options:  # where the run landed shows as the label, as through the Cromwell API
        labels[PROJECT_LABEL] = options.pop(PROJECT_LABEL)
    # run_submit checks these again under the team's lock; here they refuse before a workflow is written
    queued_runs_check(team=project.team)
    budget_check(team=project.team, project=project)
    doc = wdl_check(source=run_request.source, filename=run_request.filename, imports=run_request.imports)
    with transaction.atomic():  # a refused run leaves no new workflow or version behind
        workflow = api_workflow_get_or_create(project=project, name=doc.name, user=user)
        version = workflow_version_create(workflow=workflow, source=run_request.source,
                                          filename=run_request.filename, imports=run_request.imports, user=user)
        return run_submit(version=version, user=user, inputs=run_request.params, options=options, labels=labels)


def wes_run_cancel(*, run: Run, user) -> None:
    """Abort a run (the caller checked the user may); 400 when it has already ended."""
    if not run_abort(run=run, user=user):
        run.refresh_from_db(fields=["status"])
        raise WesError(400, f"Run {run.pk} has already ended ({run.status}): there is nothing to cancel")
