from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from teams.selectors import membership_get, project_get_for_user
from teams.services import target_resolve
from workflows import selectors, services
from workflows.forms import VersionUploadForm, WorkflowCreateForm


def _add_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_create(request, team_slug: str, project_slug: str):
    """Create a workflow from an uploaded WDL file."""
    project = project_get_for_user(user=request.user, team_slug=team_slug, slug=project_slug, write=True)
    form = WorkflowCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        source, filename, imports = form.read()
        try:
            workflow = services.workflow_create(
                project=project, name=form.cleaned_data["name"], description=form.cleaned_data["description"],
                source=source, filename=filename, imports=imports, user=request.user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Workflow {workflow.name} created.")
            return redirect("workflows:detail", pk=workflow.pk)
    return render(request, "workflows/workflow_create.html", {"project": project, "form": form}, status=400 if form.errors else 200)


@login_required
def workflow_detail(request, pk: int):
    """Show a workflow, its versions and the prefix and role its runs get."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk)
    return _render_detail(request, workflow, VersionUploadForm())


def _render_detail(request, workflow, upload_form, status=200):
    team = workflow.project.team
    try:
        target = target_resolve(team=team, project=workflow.project, workflow=workflow, options={})
    except ValidationError as exc:
        target = None
        messages.error(request, "; ".join(exc.messages))
    return render(request, "workflows/workflow_detail.html", {
        "workflow": workflow,
        "team": team,
        "membership": membership_get(user=request.user, team=team),
        "versions": selectors.version_list(workflow=workflow),
        "target": target,
        "upload_form": upload_form,
    }, status=status)


@login_required
@require_POST
def version_upload(request, pk: int):
    """Add a version to a workflow from an uploaded WDL file."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk, write=True)
    form = VersionUploadForm(request.POST, request.FILES)
    if form.is_valid():
        source, filename, imports = form.read()
        try:
            version = services.workflow_version_create(
                workflow=workflow, source=source, filename=filename, imports=imports, user=request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Version {version.number} of {workflow.name} is ready.")
            return redirect("workflows:detail", pk=workflow.pk)
    return _render_detail(request, workflow, form, status=400)
