"""Runs: the team's run list, a run's page with its live call table and timeline, and its actions."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest, ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from teams.selectors import team_get_for_user
from workflows import selectors, services
from workflows.forms import RunFilterForm
from workflows.models import Call
from workflows.selectors.cost import run_cost
from workflows.selectors.outputs import run_output_rows
from workflows.services.cleanup import run_cleanup as cleanup, run_cleanup_preview
from workflows.services.cost import CURRENCY
from workflows.services.runs import run_retry_failed

COMPARE_CHOICES = 20  # recent runs of the same workflow offered for comparison


def _query(request, *drop: str) -> str:
    """Return the request's query string without the named parameters (for pagination links)."""
    query = request.GET.copy()
    for name in drop:
        query.pop(name, None)
    return query.urlencode()


@login_required
def run_list(request, team_slug: str):
    """List the team's runs: filter by status, workflow, submitter, label and date; search; paginate."""
    team, membership = team_get_for_user(user=request.user, slug=team_slug)
    form = RunFilterForm(request.GET or None, workflows=selectors.workflow_list(user=request.user, team=team)
                         .order_by("name"), submitters=selectors.run_submitters(user=request.user, team=team))
    runs = selectors.run_list(user=request.user, team=team, **(form.filters() if form.is_bound else {}))
    return render(request, "workflows/run_list.html", {
        "team": team, "membership": membership, "form": form,
        "page": selectors.run_page(runs=runs, page=request.GET.get("page")), "query": _query(request, "page"),
        "filtered": form.is_bound and any(v for k, v in request.GET.items() if k != "page"),
    })


def _call_filters(request) -> tuple[str, str]:
    """Return the call table's status and call-name filters; 400 when they are no status, or no name."""
    status, fqn = request.GET.get("status", ""), request.GET.get("call", "")
    if status and status not in Call.Status.values:
        raise BadRequest(f"status: {status[:30]!r} is not a call status")
    if len(fqn) > 500 or "\x00" in fqn:
        raise BadRequest("call: a call name is at most 500 characters, without NUL")
    return status, fqn


def _live_context(request, run) -> dict:
    status, fqn = _call_filters(request)
    summary = selectors.call_summary(run=run)
    return {
        "run": run,
        "summary": summary,
        "cache": selectors.run_cache_summary(run=run),
        "calls": selectors.call_page(run=run, page=request.GET.get("page"), status=status, fqn=fqn),
        "timeline": selectors.run_timeline(run=run, attempts=summary.progress.attempts),
        "status_filter": status, "call_filter": fqn,
        "live_query": _query(request, "shown"), "query": _query(request, "page", "shown"),
        "filter_query": _query(request, "page", "status", "call", "shown"),
    }


@login_required
def run_detail(request, pk):
    """Show a run: who ran what with which role and prefix, its calls, timeline, inputs and outputs."""
    run = selectors.run_get_for_user(user=request.user, pk=pk)
    return render(request, "workflows/run_detail.html", {
        **_live_context(request, run),
        "can_act": selectors.run_can_act(user=request.user, run=run),
        "relaunches": selectors.run_relaunches(run=run),
        "cost": run_cost(run=run), "currency": CURRENCY,
        "output_rows": run_output_rows(run=run),
        "compare_with": selectors.run_list(user=request.user, team=run.team, workflow_id=run.version.workflow_id)
        .exclude(pk=run.pk).select_related("version")[:COMPARE_CHOICES],
    })


@login_required
def run_live(request, pk):
    """The live part of a run's page (progress, calls, timeline), refreshed by htmx while the run is active."""
    run = selectors.run_get_for_user(user=request.user, pk=pk)
    if request.htmx and (not run.is_active or request.GET.get("shown", run.status) != run.status):
        # It ended, or its status changed under the page (aborting): the whole page changes (status, actions).
        return HttpResponseClientRefresh()
    return render(request, "workflows/_run_live.html", _live_context(request, run))


@login_required
def run_timeline(request, pk):
    """Show a run's timeline on a page of its own."""
    run = selectors.run_get_for_user(user=request.user, pk=pk)
    return render(request, "workflows/timeline_page.html", {"run": run, "timeline": selectors.run_timeline(run=run)})


@login_required
@require_POST
def run_abort(request, pk):
    """Abort a run: nothing queued starts, running jobs are stopped."""
    run = selectors.run_get_for_user(user=request.user, pk=pk, write=True)
    if services.run_abort(run=run, user=request.user):
        messages.success(request, "Aborting: queued calls will not start and running jobs are being stopped.")
    else:
        messages.error(request, f"The run had already ended ({run.status}); nothing to abort.")
    return redirect("workflows:run_detail", pk=run.pk)


@login_required
@require_POST
def run_relaunch(request, pk):
    """Submit the run again with the same version, inputs, options and labels."""
    run = selectors.run_get_for_user(user=request.user, pk=pk, write=True)
    try:
        new = services.run_relaunch(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Could not relaunch: " + "; ".join(exc.messages))
        return redirect("workflows:run_detail", pk=run.pk)
    messages.success(request, f"Relaunched as run {str(new.pk)[:8]}.")
    return redirect("workflows:run_detail", pk=new.pk)


@login_required
@require_POST
def run_retry(request, pk):
    """Reopen a failed run and retry only its failed calls; what succeeded is kept."""
    run = selectors.run_get_for_user(user=request.user, pk=pk, write=True)
    try:
        retried = run_retry_failed(run=run, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Could not retry: " + "; ".join(exc.messages))
    else:
        messages.success(request, f"Retrying {retried} failed call{'s' if retried != 1 else ''}; "
                                  "calls that succeeded are kept.")
    return redirect("workflows:run_detail", pk=run.pk)


@login_required
@require_http_methods(["GET", "POST"])
def run_cleanup(request, pk):
    """Preview, then delete, a finished run's scripts and call directories."""
    run = selectors.run_get_for_user(user=request.user, pk=pk, write=True)
    plan, error = None, None
    try:
        if request.method == "POST":
            done = cleanup(run=run, user=request.user)
            messages.success(request, f"Cleaned up: deleted {done.scripts} script{'s' if done.scripts != 1 else ''} "
                                      f"and {done.files} file{'s' if done.files != 1 else ''} "
                                      f"({done.bytes:,} bytes).")
            return redirect("workflows:run_detail", pk=run.pk)
        plan = run_cleanup_preview(run=run)
    except ValidationError as exc:
        error = "; ".join(exc.messages)
    return render(request, "workflows/run_cleanup.html", {
        "run": run, "plan": plan, "error": error,
    }, status=400 if error and request.method == "POST" else 200)
