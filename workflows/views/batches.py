"""Sample sheets: launch one run per row after a preview, and follow the batch on its own page."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from workflows import selectors
from workflows.selectors.batches import batch_get_for_user, batch_rows
from workflows.services.batches import run_batch_launch
from workflows.sheets import SampleSheetForm
from workflows.views.workflows import _target, _version_number

PREVIEW_ROWS = 200


@login_required
@require_http_methods(["GET", "POST"])
def sheet_launch(request, pk: int):
    """Read a sample sheet, preview how its columns fill the inputs and check every row; launch on confirmation."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk, write=True)
    version = selectors.version_get(workflow=workflow, number=_version_number(request.GET.get("version")))
    team = workflow.project.team
    target = _target(request, workflow)
    form = SampleSheetForm(request.POST or None, request.FILES or None, version=version, team=team)
    sheet = None
    if target is not None and request.method == "POST" and form.is_valid():
        sheet = form.sheet
        if not sheet.problems and "launch" in request.POST:
            try:
                batch = run_batch_launch(version=version, user=request.user, rows=sheet.batch_rows(),
                                         samples=[(row.number, row.sample) for row in sheet.rows],
                                         sheet_name=sheet.name, sample_column=sheet.sample_column)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, f"{len(batch.rows)} runs of {workflow.name} v{version.number} submitted.")
                return redirect("workflows:batch_detail", pk=batch.pk)
    refused = bool(form.errors) or bool(sheet and sheet.problems)
    return render(request, "workflows/sheet_launch.html", {
        "workflow": workflow, "team": team, "version": version, "target": target, "form": form, "sheet": sheet,
        "preview_rows": sheet.rows[:PREVIEW_ROWS] if sheet else [],
        "confirm": form.confirm_data() if sheet and not refused else None,
    }, status=400 if refused else 200)


def _batch_context(request, pk: int) -> dict:
    batch = batch_get_for_user(user=request.user, pk=pk)
    rows, counts = batch_rows(batch=batch)
    return {"batch": batch, "rows": rows, "counts": sorted(counts.items()),
            "active": any(row.run and row.run.is_active for row in rows)}


@login_required
def batch_detail(request, pk: int):
    """Show a sample sheet's batch: each row's sample id, run and status."""
    return render(request, "workflows/batch_detail.html", _batch_context(request, pk))


@login_required
def batch_rows_live(request, pk: int):
    """The batch page's row table, refreshed by htmx while any of its runs is unfinished."""
    return render(request, "workflows/_batch_rows.html", _batch_context(request, pk))
