"""Workflows: create from a WDL file, show with versions, upload a version, launch a run."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from teams.selectors import membership_get, project_get_for_user
from teams.services import target_resolve
from workflows import selectors, services
from workflows.forms import LaunchForm, VersionUploadForm, WorkflowCreateForm

RECENT_RUNS = 10


def _add_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError by the form's fields (others above the form)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def workflow_create(request, team_slug: str, project_slug: str):
    """Create a workflow from an uploaded WDL file and the files it imports (or their zip)."""
    project = project_get_for_user(user=request.user, team_slug=team_slug, slug=project_slug, write=True)
    form = WorkflowCreateForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        source, filename, imports, files = form.read()
        try:
            imports = services.imports_zip(files=files, zip_bytes=imports)
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


def _target(request, workflow):
    """Return the prefix and role the workflow's runs get, or None (with a message) when the team forbids them."""
    try:
        return target_resolve(team=workflow.project.team, project=workflow.project, workflow=workflow, options={})
    except ValidationError as exc:
        messages.error(request, "This workflow's prefix or role is not allowed by its team: "
                                f"{'; '.join(exc.messages)}. A team admin must fix it before it can run.")
        return None


@login_required
def workflow_detail(request, pk: int):
    """Show a workflow, its versions, its recent runs and the prefix and role its runs get."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk)
    return _render_detail(request, workflow, VersionUploadForm())


def _render_detail(request, workflow, upload_form, status=200):
    team = workflow.project.team
    return render(request, "workflows/workflow_detail.html", {
        "workflow": workflow,
        "team": team,
        "membership": membership_get(user=request.user, team=team),
        "versions": selectors.version_list(workflow=workflow),
        "runs": selectors.run_page(runs=selectors.run_list(user=request.user, team=team, workflow_id=workflow.pk),
                                   page=1, per_page=RECENT_RUNS).object_list,
        "target": _target(request, workflow),
        "upload_form": upload_form,
    }, status=status)


@login_required
@require_POST
def version_upload(request, pk: int):
    """Add a version to a workflow from an uploaded WDL file."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk, write=True)
    form = VersionUploadForm(request.POST, request.FILES)
    if form.is_valid():
        source, filename, imports, files = form.read()
        try:
            imports = services.imports_zip(files=files, zip_bytes=imports)
            version = services.workflow_version_create(
                workflow=workflow, source=source, filename=filename, imports=imports, user=request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"Version {version.number} of {workflow.name} is ready.")
            return redirect("workflows:detail", pk=workflow.pk)
    return _render_detail(request, workflow, form, status=400)


def _version_number(value: str | None) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise Http404("No such version.")
    return int(value)


@login_required
@require_http_methods(["GET", "POST"])
def run_launch(request, pk: int):
    """Launch a run of a workflow version from a form made of its WDL inputs."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk, write=True)
    version = selectors.version_get(workflow=workflow, number=_version_number(request.GET.get("version")))
    team = workflow.project.team
    target = _target(request, workflow)
    form = None
    if target is not None:
        form = LaunchForm(request.POST or None, request.FILES or None, spec=version.inputs_spec, team=team,
                          target=target)
        if request.method == "POST" and form.is_valid():
            try:
                run = services.run_submit(version=version, user=request.user, inputs=form.inputs(),
                                          options=form.options(), labels=form.cleaned_data["labels"])
            except ValidationError as exc:
                form.add_submit_errors(exc)
            else:
                messages.success(request, f"Run {str(run.pk)[:8]} of {workflow.name} v{version.number} submitted.")
                return redirect("workflows:run_detail", pk=run.pk)
    return render(request, "workflows/run_launch.html", {
        "workflow": workflow, "team": team, "version": version, "versions": selectors.version_list(workflow=workflow),
        "target": target, "form": form,
    }, status=400 if form is not None and form.errors else 200)
