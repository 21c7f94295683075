"""The team pages (dashboard, live slots, audit trail) and the user's API tokens."""
import re
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from batchsite.config import get_config
from teams import selectors, services
from workflows.selectors import run_list, team_slots, workflow_list
from teams.models import Membership
from workflows.selectors.cost import team_spend
from workflows.services.budgets import budget_uses
from workflows.services.cost import CURRENCY

RECENT_RUNS = 5
AUDIT_PAGE = 50
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@login_required
def dashboard(request):
    """List the user's teams: slots in use, projects with their workflows, recent runs."""
    workflows: dict[int, list] = {}
    for workflow in workflow_list(user=request.user).order_by("name"):
        workflows.setdefault(workflow.project_id, []).append(workflow)
    roles = {m.team_id: m for m in request.user.memberships.all()}
    admin = Membership.Role.ADMIN
    rows = [{
        "team": slots.team,
        "slots": slots,
        "projects": [(project, workflows.get(project.pk, [])) for project, _ in slots.projects],
        "membership": roles.get(slots.team.pk),
        "runs": run_list(user=request.user, team=slots.team)[:RECENT_RUNS],
        "spend": team_spend(team=slots.team),
        # Budgets and their warnings are for the team's admins.
        "budgets": budget_uses(team=slots.team) if getattr(roles.get(slots.team.pk), "role", "") == admin else [],
    } for slots in team_slots(user=request.user)]
    return render(request, "teams/dashboard.html", {"rows": rows, "currency": CURRENCY})


@login_required
def slots(request, slug: str):
    """The team's live strip: jobs running against its cap and calls queued, per team and project."""
    team, _ = selectors.team_get_for_user(user=request.user, slug=slug)
    return render(request, "teams/_slots.html", {"slots": team_slots(user=request.user, team=team)[0]})


@login_required
def audit(request, slug: str):
    """Show the team's audit trail to its admins: submissions, aborts, cleanups, cap and role changes."""
    team, events = selectors.audit_list(user=request.user, slug=slug)
    page = Paginator(events, AUDIT_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        run_id = event.target.removeprefix("run ")
        event.run_url = reverse("workflows:run_detail", args=[run_id]) if UUID_RE.fullmatch(run_id) else ""
    return render(request, "teams/audit.html", {"team": team, "page": page, "what": "events"})


@login_required
@require_POST
def cost_tags(request, slug: str):
    """Let a team's admin set the tags every job of the team carries (one Name=value a line)."""
    team = selectors.team_get_for_admin(user=request.user, slug=slug)
    text = request.POST.get("cost_tags", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()][:100]
    bad = [line for line in lines if "=" not in line]
    try:
        if len(text) > 10_000 or bad:
            raise ValidationError({"cost_tags": f"write one Name=value a line ({bad[0]!r} has no '=')" if bad
                                   else "at most 10,000 characters"})
        tags = {name.strip(): value.strip() for name, value in (line.split("=", 1) for line in lines)}
        team = services.team_cost_tags_set(team=team, tags=tags, user=request.user)
    except ValidationError as exc:
        messages.error(request, f"Cost tags of {team.slug} not changed: {'; '.join(exc.messages)}")
        response = dashboard(request)  # the dashboard again, with the message, as a 400
        response.status_code = 400
        return response
    messages.success(request, f"Jobs of {team.slug} now carry the cost tags: "
                              f"{', '.join(f'{k}={v}' for k, v in team.cost_tags.items()) or 'none of its own'}.")
    return redirect(f"{reverse('teams:dashboard')}#team-{team.slug}")


@login_required
@require_http_methods(["GET", "POST"])
def caching(request, slug: str):
    """Show the team's call-caching settings; its admins turn caching off or consent to share results."""
    team, membership = selectors.team_get_for_user(user=request.user, slug=slug)
    is_admin = membership.role == membership.Role.ADMIN
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only the team's admins change its call-caching settings.")
        services.team_caching_set(team=team, user=request.user, call_caching=request.POST.get("call_caching") == "on",
                                  share=request.POST.get("share") == "on")
        messages.success(request, "Call-caching settings saved.")
        return redirect("teams:caching", slug=team.slug)
    return render(request, "teams/caching.html", {"team": team, "is_admin": is_admin,
                                                  "site_enabled": get_config().call_caching.enabled})


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List the user's tokens; a POST creates one and shows its secret this once."""
    secret, error, name = None, None, ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            token, secret = services.api_token_create(user=request.user, name=name)
        except ValidationError as exc:
            error = "; ".join(exc.messages)
        else:
            name = token.name
    return render(request, "teams/tokens.html", {
        "tokens": request.user.api_tokens.order_by("-created"),
        "secret": secret,
        "new_name": name,
        "error": error,
        "api_url": request.build_absolute_uri("/"),
        "netrc_host": urlsplit(request.build_absolute_uri("/")).hostname,
    }, status=400 if error else 200)


@login_required
@require_POST
def token_revoke(request, pk: int):
    """Revoke one of the user's tokens: the next request that sends it gets 401."""
    token = services.api_token_revoke(user=request.user, pk=pk)
    messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("tokens")
