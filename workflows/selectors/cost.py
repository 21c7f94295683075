"""What runs, projects and teams have cost: sums of their calls' costs (the caller has checked access)."""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from teams.models import Team
from workflows.models import Call, CallTally, Run

MONTHS_SHOWN = 12


def run_cost(*, run: Run) -> Decimal:
    """Return what every call attempt of the run has cost so far (from its tally: no call is read)."""
    return CallTally.objects.filter(run=run).aggregate(total=Sum("cost"))["total"] or Decimal(0)


def month_start(when: datetime | None = None) -> datetime:
    """Return the first instant of the (current) month, in the site's time zone."""
    now = timezone.localtime(when or timezone.now())
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(*, team: Team, project_id: int | None = None, when: datetime | None = None) -> Decimal:
    """Return what the team (or one of its projects) has spent this month: calls that ended in it."""
    calls = Call.objects.filter(team=team, ended__gte=month_start(when))
    if project_id is not None:
        calls = calls.filter(project_id=project_id)
    return calls.aggregate(total=Sum("cost"))["total"] or Decimal(0)


@dataclass(frozen=True)
class Spend:
    month: date
    project: str
    cost: Decimal


def team_spend(*, team: Team) -> list[Spend]:
    """Return the team's spend per month and project over the last months, newest month first."""
    since = month_start().replace(year=month_start().year - 1)
    rows = (Call.objects.filter(team=team, ended__gte=since, cost__gt=0)
            .annotate(month=TruncMonth("ended")).values("month", "project__name")
            .annotate(total=Sum("cost")).order_by("-month", "project__name"))
    return [Spend(month=r["month"].date(), project=r["project__name"], cost=r["total"]) for r in rows][:MONTHS_SHOWN * 50]
