"""Reads of team data, every one scoped to the user's teams."""
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from teams.models import AuditEvent, Membership, Project, Team


def team_list(*, user) -> QuerySet[Team]:
    """Return the teams the user belongs to."""
    return Team.objects.filter(memberships__user=user).order_by("name")


def membership_get(*, user, team: Team) -> Membership | None:
    """Return the user's membership in the team, or None."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, team=team).first()


def access_check(*, user, team: Team, write: bool = False, owner=None) -> Membership:
    """Return the membership; 404 for outsiders, 403 when a write is not the member's to make.

    Viewers only read; scientists act on what they own (owner=None means "a new thing");
    team admins act on everything in the team.
    """
    membership = membership_get(user=user, team=team)
    if membership is None:
        raise Http404("No such team.")
    if write:
        if membership.role == Membership.Role.VIEWER:
            raise PermissionDenied("Viewers can look but not act.")
        if membership.role == Membership.Role.SCIENTIST and owner is not None and owner != user:
            raise PermissionDenied("Scientists act on their own runs only.")
    return membership


def team_get_for_user(*, user, slug: str, write: bool = False) -> tuple[Team, Membership]:
    """Return a team by slug and the user's membership; 404 for outsiders."""
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    return team, access_check(user=user, team=team, write=write)


def project_list(*, user, team: Team | None = None) -> QuerySet[Project]:
    """Return the projects of the user's teams."""
    qs = Project.objects.filter(team__memberships__user=user).select_related("team")
    if team is not None:
        qs = qs.filter(team=team)
    return qs.order_by("team__name", "name")


def project_get_for_user(*, user, team_slug: str, slug: str, write: bool = False) -> Project:
    """Return a project of one of the user's teams; 404 for outsiders."""
    project = Project.objects.filter(team__slug=team_slug, slug=slug).select_related("team").first()
    if project is None:
        raise Http404("No such project.")
    access_check(user=user, team=project.team, write=write)
    return project


def audit_list(*, user, slug: str) -> tuple[Team, QuerySet[AuditEvent]]:
    """Return a team and its audit trail, newest first; 404 for outsiders, 403 for non-admin members."""
    team, membership = team_get_for_user(user=user, slug=slug)
    if membership.role != Membership.Role.ADMIN:
        raise PermissionDenied("Only team admins see the audit trail.")
    return team, AuditEvent.objects.filter(team=team).select_related("user").order_by("-created", "-pk")


def team_limits(team: Team) -> dict[str, int]:
    """Return the team's limits by name: its own where an operator set one, else the site default."""
    return {name: team.limit(name) for name in settings.BATCHSITE_DEFAULT_LIMITS}


def team_get_for_admin(*, user, slug: str) -> Team:
    """Return a team its admin may configure; 404 for outsiders, 403 for other members."""
    team, membership = team_get_for_user(user=user, slug=slug)
    if membership.role != Membership.Role.ADMIN:
        raise PermissionDenied("Only team admins change the team's settings.")
    return team
