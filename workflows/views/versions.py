"""A workflow version's WDL source, highlighted, and the differences between two versions."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.shortcuts import render

from workflows import selectors
from workflows.highlight import wdl_diff, wdl_lines


@login_required
def version_source(request, pk: int, number: int):
    """Show a version's WDL source, highlighted, with its line numbers."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk)
    version = selectors.version_get(workflow=workflow, number=number)
    return render(request, "workflows/version_source.html", {
        "workflow": workflow, "version": version, "versions": selectors.version_list(workflow=workflow),
        "lines": wdl_lines(selectors.version_source(version=version)),
    })


def _number(request, name: str) -> int:
    value = request.GET.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise BadRequest(f"{name}: {value[:20]!r} is not a version number; "
                         "compare takes ?from=<version number>&to=<version number>")
    return int(value)


@login_required
def version_diff(request, pk: int):
    """Show what changed in the WDL between two versions of a workflow, side by side."""
    workflow = selectors.workflow_get_for_user(user=request.user, pk=pk)
    old = selectors.version_get(workflow=workflow, number=_number(request, "from"))
    new = selectors.version_get(workflow=workflow, number=_number(request, "to"))
    try:
        rows = wdl_diff(selectors.version_source(version=old), selectors.version_source(version=new))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return render(request, "workflows/version_diff.html", {
        "workflow": workflow, "old": old, "new": new, "rows": rows,
        "versions": selectors.version_list(workflow=workflow),
    })
