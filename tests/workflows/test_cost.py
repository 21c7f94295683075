"""Cost per call and per run from the operators' price table: the run page, /cost and the team dashboard."""
import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from teams.services import project_create
from tests.workflows.ui_factories import hello_workflow, make_run
from workflows.backends import JobState
from workflows.models import Call, Price, Run
from workflows.selectors.cost import run_cost
from workflows.services import call_finish
from workflows.services.cost import price_table_changed

T0 = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.timezone.utc)


def running_call(run, name, *, vcpus, memory_mib, gpus=0, queue="", capacity="on-demand") -> Call:
    return Call.objects.create(run=run, team_id=run.team_id, project_id=run.project_id, backend=run.backend,
                               call_id=f"call-{name}", fqn=f"hello.{name}", task=name, status=Call.Status.RUNNING,
                               backend_job_id=f"/jobs/{name}", call_dir=f"{run.root}/call-{name}/attempt-1",
                               queue=queue, capacity=capacity, vcpus=vcpus, memory_mib=memory_mib, gpus=gpus)


def finish(call, minutes, *, rc=1):
    state = JobState(JobState.DONE, rc=rc, started_at=T0, stopped_at=T0 + dt.timedelta(minutes=minutes))
    call_finish(call=call, state=state, outcome=(None, "the command exited with return code 1"))
    call.refresh_from_db()
    return call


@pytest.fixture
def prices(db):
    price_table_changed()
    Price.objects.create(backend="Local", capacity="on-demand", vcpu_hour=Decimal("0.04"),
                         gib_hour=Decimal("0.005"), gpu_hour=Decimal("0.9"))
    Price.objects.create(backend="Local", queue="arn:aws:batch:us-east-1:111111111111:job-queue/spot-q",
                         capacity="spot", vcpu_hour=Decimal("0.012"), gib_hour=Decimal("0.0015"))
    yield
    price_table_changed()


@pytest.mark.django_db
def test_a_runs_cost_is_its_calls_resources_times_the_price_table(project, alice, prices, client):
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    assert run.backend == "Local"

    gpu = finish(running_call(run, "gpu", vcpus=4, memory_mib=8192, gpus=1), 90)
    spot = finish(running_call(run, "spot", vcpus=2, memory_mib=4096, queue="spot-q", capacity="spot"), 30)
    unpriced = finish(running_call(run, "fargate", vcpus=2, memory_mib=4096, capacity="spot", queue="other"), 60)

    # 1.5 h x (4 x 0.04 + 8 GiB x 0.005 + 1 x 0.9) = 1.65; 0.5 h x (2 x 0.012 + 4 x 0.0015) = 0.015
    assert (gpu.resource_seconds, gpu.cost) == (5400.0, Decimal("1.650000"))
    assert (spot.resource_seconds, spot.cost) == (1800.0, Decimal("0.015000"))
    assert unpriced.cost == Decimal("0")  # no row prices spot capacity on that queue
    assert run_cost(run=run) == Decimal("1.665000")
    client.force_login(alice)
    assert client.get(f"/api/workflows/v1/{run.pk}/cost").json() == {
        "id": str(run.pk), "status": "Running", "currency": "USD", "cost": 1.665, "errors": []}
    page = client.get(reverse("workflows:run_detail", args=[run.pk])).content.decode()
    assert '<dd id="run-cost">1.6650 USD' in page


@pytest.mark.django_db
def test_the_dashboard_shows_spend_per_project_and_month(project, alice, bob, carol, prices, client):
    other = project_create(team=project.team, name="Panels", slug="panels")
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)
    finish(running_call(run, "a", vcpus=10, memory_mib=0), 60)  # 0.40
    panel_run = make_run(hello_workflow(other, alice, name="Panel"), alice, status=Run.Status.RUNNING)
    finish(running_call(panel_run, "b", vcpus=5, memory_mib=0), 60)  # 0.20
    old = finish(running_call(panel_run, "c", vcpus=25, memory_mib=0), 60)  # 1.00, last month
    last_month = (dt.date.today().replace(day=1) - dt.timedelta(days=1))
    Call.objects.filter(pk=old.pk).update(ended=dt.datetime.combine(last_month, dt.time(12), dt.timezone.utc))

    client.force_login(bob)  # a viewer of the team sees its spend
    page = client.get(reverse("teams:dashboard")).content.decode()

    table = page[page.index('id="spend-genomics"'):page.index("</table>", page.index('id="spend-genomics"'))]
    month, previous = dt.date.today().strftime("%Y-%m"), last_month.strftime("%Y-%m")
    assert [line.strip() for line in table.split("<tr>")[2:]] == [
        f"<td>{month}</td><td>Exomes</td><td class=\"num\">0.40</td></tr>",
        f"<td>{month}</td><td>Panels</td><td class=\"num\">0.20</td></tr>",
        f"<td>{previous}</td><td>Panels</td><td class=\"num\">1.00</td></tr></tbody>",
    ]
    client.force_login(carol)  # another team's member sees none of it
    assert 'id="spend-genomics"' not in client.get(reverse("teams:dashboard")).content.decode()
    assert client.get(f"/api/workflows/v1/{run.pk}/cost").status_code == 404


@pytest.mark.django_db
def test_the_local_backend_reports_wall_time_and_cost_0_unless_priced(project, alice):
    price_table_changed()
    run = make_run(hello_workflow(project, alice), alice, status=Run.Status.RUNNING)

    call = finish(running_call(run, "x", vcpus=1, memory_mib=100), 2)

    assert (call.resource_seconds, call.cost) == (120.0, Decimal("0"))
