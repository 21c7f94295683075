"""Team and project budgets: a warning for the team's admins at 80 %, new runs refused at 100 %, an operator raises it."""
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from teams.models import AuditEvent, Budget
from teams.services import api_token_create, budget_set, project_create
from tests.api.conftest import basic, submit
from tests.workflows.test_ui_launch import launch_url, valid
from tests.workflows.ui_factories import hello_workflow, make_run
from workflows.models import Call, Run
from workflows.services import run_submit


def spend(project, user, amount: str, *, ended=None) -> None:
    """Record a finished call of the project that cost amount."""
    run = make_run(hello_workflow(project, user, name=f"Spent {Call.objects.count()}"), user)
    Call.objects.create(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                        call_id="call-x", fqn="hello.x", task="x", status=Call.Status.SUCCEEDED,
                        cost=Decimal(amount), ended=ended or dt.datetime.now(dt.timezone.utc))


@pytest.mark.django_db
def test_at_80_percent_the_teams_admins_see_a_warning(client, team, project, alice, bob, operator):
    budget_set(team=team, monthly_limit=100, user=operator)
    spend(project, alice, "79.99")
    client.force_login(alice)
    assert "Budget warning" not in client.get(reverse("teams:dashboard")).content.decode()

    spend(project, alice, "5.00")

    page = client.get(reverse("teams:dashboard")).content.decode()
    assert "Budget warning: team genomics has spent 84.99 of its 100.00 USD monthly budget (84 %)." in page
    client.force_login(bob)  # a viewer is not shown the team's budget
    assert 'class="alert' not in client.get(reverse("teams:dashboard")).content.decode()


@pytest.mark.django_db
def test_last_months_spend_does_not_count(team, project, alice, operator):
    budget_set(team=team, monthly_limit=10, user=operator)
    spend(project, alice, "50", ended=dt.datetime.now(dt.timezone.utc).replace(day=1) - dt.timedelta(days=2))

    assert run_submit(version=hello_workflow(project, alice, name="Fine").versions.get(), user=alice,
                      inputs={"hello.n": 1})


@pytest.mark.django_db
def test_a_team_over_its_budget_cannot_submit_from_the_ui_or_the_api(client, team, project, alice, operator):
    budget_set(team=team, monthly_limit=100, user=operator)
    spend(project, alice, "100.00")
    workflow = hello_workflow(project, alice)
    client.force_login(alice)

    page = client.post(launch_url(workflow), valid())
    response = submit(client, basic("alice", api_token_create(user=alice, name="t")[1]),
                      inputs={"hello.who": "x"})

    assert page.status_code == 400 and "the monthly budget of team genomics is spent: 100.00 of 100.00 USD" in \
        page.content.decode()
    assert response.status_code == 400
    assert "the monthly budget of team genomics is spent: 100.00 of 100.00 USD" in response.json()["message"]
    assert "running work continues" in response.json()["message"]
    assert not Run.objects.filter(version__workflow=workflow).exists()


@pytest.mark.django_db
def test_a_project_budget_refuses_only_that_projects_runs(team, project, alice, operator):
    panels = project_create(team=team, name="Panels", slug="panels")
    budget_set(team=team, project=project, monthly_limit=1, user=operator)
    spend(project, alice, "1.50")

    with pytest.raises(ValidationError, match="budget of team genomics, project exomes is spent: 1.50 of 1.00"):
        run_submit(version=hello_workflow(project, alice, name="A").versions.get(), user=alice, inputs={"hello.n": 1})
    assert run_submit(version=hello_workflow(panels, alice, name="B").versions.get(), user=alice, inputs={"hello.n": 1})


@pytest.mark.django_db
def test_an_operator_raises_the_budget_in_the_admin_audited_and_submissions_resume(client, team, project, alice,
                                                                                  operator):
    budget = budget_set(team=team, monthly_limit=100, user=operator)
    spend(project, alice, "120")
    version = hello_workflow(project, alice, name="Again").versions.get()
    with pytest.raises(ValidationError):
        run_submit(version=version, user=alice, inputs={"hello.n": 1})
    client.force_login(operator)

    response = client.post(reverse("admin:teams_budget_change", args=[budget.pk]), {"monthly_limit": "250"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Budget.objects.get(pk=budget.pk).monthly_limit == Decimal("250.00")
    events = AuditEvent.objects.filter(team=team, action=AuditEvent.Action.BUDGET).order_by("created")
    assert [(e.user, e.target, e.details) for e in events] == [
        (operator, "team genomics", {"old": None, "new": "100.00"}),
        (operator, "team genomics", {"old": "100.00", "new": "250.00"})]
    assert run_submit(version=version, user=alice, inputs={"hello.n": 1})


@pytest.mark.django_db
@pytest.mark.parametrize("amount, problem", [("-1", "non-negative"), ("lots", "is not an amount"),
                                             ("1e12", "below 10,000,000,000")])
def test_a_bad_budget_is_refused_naming_the_field(team, operator, amount, problem):
    with pytest.raises(ValidationError) as refused:
        budget_set(team=team, monthly_limit=amount, user=operator)
    assert problem in refused.value.message_dict["monthly_limit"][0]
    assert not Budget.objects.exists()


@pytest.mark.django_db
def test_a_teams_admin_cannot_edit_budgets_in_the_admin(client, team, alice, operator):
    budget = budget_set(team=team, monthly_limit=100, user=operator)
    client.force_login(alice)

    response = client.post(reverse("admin:teams_budget_change", args=[budget.pk]), {"monthly_limit": "1000"})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Budget.objects.get(pk=budget.pk).monthly_limit == Decimal("100.00")
