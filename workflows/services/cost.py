"""What call attempts cost, the tags that allocate it, and how a failed attempt is retried.

A call's cost is fixed when its job ends: hours x (vCPUs x per vCPU-hour + GiB x per GiB-hour + GPUs x
per GPU-hour), from the Price row of its backend, queue and capacity (or the backend's row for any
queue). No row: the cost is 0. Runs, projects and months add up their calls.
"""
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.core.cache import cache
from django.utils import timezone

from workflows.backends import JobState, Submitted, provider_for
from workflows.models import Call, Price

CURRENCY = "USD"
PRICE_CACHE_SECONDS = 30  # how long a worker prices with a table it read, after an operator edits it
DEFAULT_PREEMPTIBLE = 3  # retries after Spot reclaims, unless the task or the provider says otherwise
RECLAIM_FAILURE = "the job's host was reclaimed"  # how a call that reclaims ended begins its failure (WES: PREEMPTED)
_CACHE_KEY = "batchsite:price-table"
_PLACES = Decimal("0.000001")


def job_tags(call: Call) -> dict:
    """Return a job's tags: the team's own cost tags, then Batchsite's (which find it again and allocate cost)."""
    run = call.run
    return {**call.team.cost_tags, "batchsite:team": call.team.slug, "batchsite:project": run.project.slug,
            "batchsite:workflow": run.version.workflow.slug, "batchsite:run": str(run.pk),
            "batchsite:call": f"{call.call_id}/attempt-{call.attempt}"}


def preemption_budget(call: Call) -> int:
    """Return how many reclaims of its host a call survives: runtime preemptible, else the provider's default."""
    value = (call.runtime or {}).get("preemptible")
    if value is None:
        value = provider_for(call.backend).default_runtime_attributes.get("preemptible", DEFAULT_PREEMPTIBLE)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return DEFAULT_PREEMPTIBLE


def attempt_outcome(call: Call, reason: str, *, preempted: bool) -> tuple[str, str]:
    """Return how a failed attempt ends (RETRIED, PREEMPTED or FAILED) and why.

    maxRetries counts failures only; reclaims of the host count against preemption_budget().
    """
    reclaims = Call.objects.filter(run_id=call.run_id, call_id=call.call_id, attempt__lt=call.attempt,
                                   status=Call.Status.PREEMPTED).count()
    if not preempted:
        retries = int((call.runtime or {}).get("maxRetries", 0) or 0)
        return (Call.Status.RETRIED if call.attempt - reclaims <= retries else Call.Status.FAILED), reason
    budget = preemption_budget(call)
    if reclaims < budget:
        return Call.Status.PREEMPTED, reason
    times = f"{reclaims + 1} time{'s' if reclaims else ''}"
    return Call.Status.FAILED, (f"{RECLAIM_FAILURE} {times}, more than the {budget} retries allowed "
                                f"after a reclaim (runtime attribute preemptible, or the provider's default): {reason}")


def _queue_name(queue: str) -> str:
    return queue.rsplit("/", 1)[-1]  # a job queue ARN ends in job-queue/<name>


def _prices() -> dict[tuple[str, str, str], tuple[Decimal, Decimal, Decimal]]:
    table = cache.get(_CACHE_KEY)
    if table is None:
        table = {(p.backend, _queue_name(p.queue), p.capacity): (p.vcpu_hour, p.gib_hour, p.gpu_hour)
                 for p in Price.objects.all()}
        cache.set(_CACHE_KEY, table, PRICE_CACHE_SECONDS)
    return table


def price_table_changed() -> None:
    """Make every worker read the price table again (an operator edited it)."""
    cache.delete(_CACHE_KEY)


def price_table() -> dict:
    """Return the prices as job_cost reads them (pass it to price many jobs with one look-up)."""
    return _prices()


def job_cost(*, backend: str, queue: str, capacity: str, vcpus: int, memory_mib: int, gpus: int,
             seconds: float, prices: dict | None = None) -> Decimal:
    """Return what a job of these resources costs for that many seconds (0 when nothing prices it)."""
    table = _prices() if prices is None else prices
    rates = table.get((backend, _queue_name(queue), capacity)) or table.get((backend, "", capacity))
    if rates is None:
        return Decimal(0)
    vcpu_hour, gib_hour, gpu_hour = rates
    hourly = vcpus * vcpu_hour + Decimal(memory_mib) / 1024 * gib_hour + gpus * gpu_hour
    return (hourly * Decimal(repr(seconds)) / 3600).quantize(_PLACES, rounding=ROUND_HALF_UP)


def asked_fields(sub: Submitted) -> dict:
    """Return the Call fields of what a submitted job asked for, which its cost is priced by."""
    r = sub.resources
    return {} if r is None else dict(queue=r.queue, capacity=r.capacity, vcpus=r.vcpus, memory_mib=r.memory_mib,
                                     gpus=r.gpus)


def call_spent(call: Call, state: JobState, *, now: datetime | None = None, prices: dict | None = None) -> dict:
    """Return the fields that record what a call's ended job held and cost: resource_seconds and cost."""
    if state.started_at is None:
        seconds = 0.0
    else:
        seconds = max(0.0, ((state.stopped_at or now or timezone.now()) - state.started_at).total_seconds())
    cost = job_cost(backend=call.backend, queue=call.queue, capacity=call.capacity or Price.Capacity.ON_DEMAND,
                    vcpus=call.vcpus or 0, memory_mib=call.memory_mib or 0, gpus=call.gpus, seconds=seconds,
                    prices=prices)
    return {"resource_seconds": seconds, "cost": cost}
