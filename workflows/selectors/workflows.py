"""Reads of workflows and their versions, scoped to the user's teams."""
from django.db.models import QuerySet
from django.http import Http404

from teams.models import Team
from teams.selectors import access_check
from workflows.models import Workflow, WorkflowVersion


def workflow_list(*, user, team: Team | None = None) -> QuerySet[Workflow]:
    """Return the workflows in the user's teams."""
    qs = Workflow.objects.filter(project__team__memberships__user=user).select_related("project__team")
    if team is not None:
        qs = qs.filter(project__team=team)
    return qs


def workflow_get_for_user(*, user, pk: int, write: bool = False) -> Workflow:
    """Return a workflow of one of the user's teams; 404 for outsiders, 403 for viewers writing."""
    workflow = Workflow.objects.filter(pk=pk).select_related("project__team").first()
    if workflow is None:
        raise Http404("No such workflow.")
    access_check(user=user, team=workflow.project.team, write=write)
    return workflow


def version_list(*, workflow: Workflow) -> QuerySet[WorkflowVersion]:
    """Return a workflow's versions, newest first (the caller has checked access to the workflow)."""
    return workflow.versions.select_related("created_by").order_by("-number")


def version_get(*, workflow: Workflow, number: int | None = None) -> WorkflowVersion:
    """Return a version of a workflow the caller has checked access to (default: the newest); 404 if none."""
    versions = version_list(workflow=workflow)
    version = versions.filter(number=number).first() if number is not None else versions.first()
    if version is None:
        raise Http404("No such version.")
    version.workflow = workflow
    return version


def version_source(*, version: WorkflowVersion) -> str:
    """Return a version's main WDL file as text (the caller has checked access to its workflow)."""
    with version.source.open("rb") as f:
        return f.read().decode("utf-8", errors="replace")
