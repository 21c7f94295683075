from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from teams import selectors
from workflows.selectors import run_list, team_slots, workflow_list

RECENT_RUNS = 5


@login_required
def dashboard(request):
    """List the user's teams: slots in use, projects with their workflows, recent runs."""
    workflows: dict[int, list] = {}
    for workflow in workflow_list(user=request.user).order_by("name"):
        workflows.setdefault(workflow.project_id, []).append(workflow)
    roles = {m.team_id: m for m in request.user.memberships.all()}
    rows = [{
        "team": slots.team,
        "slots": slots,
        "projects": [(project, workflows.get(project.pk, [])) for project, _ in slots.projects],
        "membership": roles.get(slots.team.pk),
        "runs": run_list(user=request.user, team=slots.team)[:RECENT_RUNS],
    } for slots in team_slots(user=request.user)]
    return render(request, "teams/dashboard.html", {"rows": rows})


@login_required
def slots(request, slug: str):
    """The team's live strip: jobs running against its cap and calls queued, per team and project."""
    team, _ = selectors.team_get_for_user(user=request.user, slug=slug)
    return render(request, "teams/_slots.html", {"slots": team_slots(user=request.user, team=team)[0]})
