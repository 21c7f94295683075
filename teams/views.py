from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import render

from teams import selectors
from workflows.selectors import workflow_list


@login_required
def dashboard(request):
    """List the user's teams with their projects and workflows."""
    teams = list(selectors.team_list(user=request.user))
    projects = selectors.project_list(user=request.user).prefetch_related(
        Prefetch("workflows", queryset=workflow_list(user=request.user).order_by("name"))
    )
    by_team: dict[int, list] = {}
    for project in projects:
        by_team.setdefault(project.team_id, []).append(project)
    roles = {m.team_id: m for m in request.user.memberships.all()}
    rows = [{"team": t, "projects": by_team.get(t.pk, []), "membership": roles.get(t.pk)} for t in teams]
    return render(request, "teams/dashboard.html", {"rows": rows})
