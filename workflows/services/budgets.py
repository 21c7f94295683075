"""Team and project budgets: what this month's calls have spent against them, and the refusal at 100 %.

The check is part of run submission (run_submit), so every way in (web, Cromwell API, WES, run_wdl
with --team) refuses the same way. Running work is never stopped: only new runs are refused.
"""
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from teams.models import Budget, Project, Team
from workflows.selectors.cost import month_spend
from workflows.services.cost import CURRENCY


@dataclass(frozen=True)
class BudgetUse:
    budget: Budget
    spent: Decimal

    @property
    def percent(self) -> int:
        limit = self.budget.monthly_limit
        return int(self.spent * 100 / limit) if limit else (100 if self.spent or not limit else 0)

    @property
    def warn(self) -> bool:
        return self.percent >= Budget.WARN_AT

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.budget.monthly_limit


def budget_uses(*, team: Team) -> list[BudgetUse]:
    """Return each of the team's budgets with what was spent against it this month."""
    return [BudgetUse(budget=b, spent=month_spend(team=team, project_id=b.project_id))
            for b in Budget.objects.filter(team=team).select_related("team", "project")]


def budget_check(*, team: Team, project: Project) -> None:
    """Refuse a new run when the team's budget, or its project's, is spent this month (ValidationError)."""
    for budget in Budget.objects.filter(team=team).select_related("team", "project"):
        if budget.project_id not in (None, project.pk):
            continue
        spent = month_spend(team=team, project_id=budget.project_id)
        if spent >= budget.monthly_limit:
            raise ValidationError({"__all__": (
                f"the monthly budget of {budget} is spent: {spent:.2f} of {budget.monthly_limit:.2f} {CURRENCY} "
                f"in {timezone.localtime():%B %Y}. New runs are refused until next month or until an operator "
                "raises the budget; running work continues.")})
