"""Reads of runs and of their calls' progress, scoped to the user's teams."""
import datetime as dt
import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import CharField, Count, Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Replace
from django.http import Http404
from django.utils import timezone

from teams.models import Team
from teams.selectors import access_check
from workflows.models import Call, CallTally, Run, RunLabel

RUNS_PER_PAGE = 25
CALLS_PER_PAGE = 100
# A run nobody owns any more (its submitter was deleted) is the team admins' to act on.
_NOBODY = AnonymousUser()


def run_list(*, user, team: Team | None = None, status: str = "", workflow_id: int | None = None,
             submitted_by_id: int | None = None, label: str = "", since: dt.date | None = None,
             until: dt.date | None = None, search: str = "", oldest_first: bool = False) -> QuerySet[Run]:
    """Return the runs of the user's teams, filtered; newest first unless asked otherwise."""
    qs = Run.objects.filter(team__memberships__user=user).select_related(
        "version__workflow", "project", "team", "submitted_by")
    if team is not None:
        qs = qs.filter(team=team)
    if status:
        qs = qs.filter(status=status)
    if workflow_id:
        qs = qs.filter(version__workflow_id=workflow_id)
    if submitted_by_id:
        qs = qs.filter(submitted_by_id=submitted_by_id)
    if label:
        key, has_value, value = (part.strip() for part in label.partition("="))
        rows = RunLabel.objects.filter(run=OuterRef("pk"), key=key, **({"value": value} if has_value else {}))
        qs = qs.filter(Exists(rows))
    if since:
        qs = qs.filter(submitted__gte=_day_start(since))
    if until:
        qs = qs.filter(submitted__lt=_day_start(until + dt.timedelta(days=1)))
    if search:
        search = search.strip()
        # A run id is matched without its dashes: SQLite stores UUIDs as 32 hex digits.
        hex_id = Replace(Cast("id", CharField()), Value("-"), Value(""))
        qs = qs.annotate(id_text=hex_id).filter(
            Q(id_text__istartswith=search.replace("-", "")) | Q(version__workflow__name__icontains=search)
            | Q(version__wdl_name__icontains=search))
    return qs.order_by("submitted" if oldest_first else "-submitted")


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def run_page(*, runs: QuerySet[Run], page: str | int | None, per_page: int = RUNS_PER_PAGE) -> Page:
    """Return one page of runs with each run's call counts attached as run.progress."""
    page_obj = Paginator(runs, per_page).get_page(page)
    runs_on_page = list(page_obj.object_list)
    counts = _status_counts(CallTally.objects.filter(run__in=[r.pk for r in runs_on_page]), "run_id")
    for run in runs_on_page:
        run.progress = Progress.of(counts.get(run.pk, {}))
    page_obj.object_list = runs_on_page
    return page_obj


def run_submitters(*, user, team: Team):
    """Return the users who submitted runs in one of the user's teams (for the run list's filter)."""
    access_check(user=user, team=team)
    return get_user_model().objects.filter(
        pk__in=Run.objects.filter(team=team).order_by().values("submitted_by")).order_by("username")


def run_get_for_user(*, user, pk: uuid.UUID, write: bool = False) -> Run:
    """Return a run of one of the user's teams; 404 for outsiders, 403 when the action is not theirs."""
    run = Run.objects.filter(pk=pk).select_related(
        "team", "project", "version__workflow", "submitted_by", "relaunch_of", "cleaned_up_by").first()
    if run is None:
        raise Http404("No such run.")
    access_check(user=user, team=run.team, write=write, owner=run.submitted_by or _NOBODY)
    return run


def run_can_act(*, user, run: Run) -> bool:
    """Tell whether the user may abort, relaunch, retry or clean up the run (the rule of access_check)."""
    try:
        access_check(user=user, team=run.team, write=True, owner=run.submitted_by or _NOBODY)
    except (PermissionDenied, Http404):
        return False
    return True


def run_relaunches(*, run: Run) -> list[Run]:
    """Return the runs that relaunched this one (the caller has checked access to it)."""
    return list(run.relaunches.order_by("-submitted").only("id", "status", "submitted")[:10])


# The order a call's statuses are shown in: what is moving first, then how it ended.
STATUS_ORDER = [Call.Status.RUNNING, Call.Status.SUBMITTED, Call.Status.SUBMITTING, Call.Status.QUEUED,
                Call.Status.SUCCEEDED, Call.Status.FAILED, Call.Status.ABORTED, Call.Status.RETRIED,
                Call.Status.PREEMPTED]


@dataclass
class StatusCount:
    status: str
    label: str
    count: int


@dataclass
class Progress:
    """How far a set of calls is: one call per call id (a retried attempt is counted apart)."""

    total: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    counts: list[StatusCount] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def attempts(self) -> int:
        return self.total + self.retried

    @classmethod
    def of(cls, by_status: dict[str, int]) -> "Progress":
        labels = dict(Call.Status.choices)
        return cls(
            total=sum(n for s, n in by_status.items() if s not in Call.SUPERSEDED),
            done=by_status.get(Call.Status.SUCCEEDED, 0),
            failed=by_status.get(Call.Status.FAILED, 0),
            retried=sum(by_status.get(s, 0) for s in Call.SUPERSEDED),
            counts=[StatusCount(s.value, labels[s], by_status[s]) for s in STATUS_ORDER if by_status.get(s)],
        )


@dataclass
class CallGroup:
    fqn: str
    progress: Progress


@dataclass
class CallSummary:
    """A run's calls counted per status, for the run and for each call name."""

    progress: Progress
    groups: list[CallGroup]


def _status_counts(tallies: QuerySet[CallTally], key: str) -> dict:
    """Return {key: {status: calls}} summed from the tallies the database keeps (no call is read)."""
    counts: dict = {}
    for group, status, n in tallies.order_by().values_list(key, "status").annotate(n=Sum("calls")):
        if n:
            counts.setdefault(group, {})[status] = n
    return counts


def call_summary(*, run: Run) -> CallSummary:
    """Count the run's calls per status and per call name, in one query of its tally."""
    by_fqn = _status_counts(CallTally.objects.filter(run=run), "fqn")
    total: dict[str, int] = {}
    for counts in by_fqn.values():
        for status, n in counts.items():
            total[status] = total.get(status, 0) + n
    return CallSummary(progress=Progress.of(total),
                       groups=[CallGroup(fqn, Progress.of(counts)) for fqn, counts in sorted(by_fqn.items())])


class _CountedPaginator(Paginator):
    """A paginator told its count (from the tally) instead of counting its rows."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self.count = count


def call_page(*, run: Run, page: str | int | None = None, status: str = "", fqn: str = "") -> Page:
    """Return one page of the run's call attempts, by call name, shard and attempt.

    The count comes from the tally; the page's ids from the call_run_order index alone, then its rows by id:
    a deep page skips index entries, never rows.
    """
    tallies = CallTally.objects.filter(run=run)
    ids = Call.objects.filter(run=run).order_by("fqn", "shard_index", "attempt")
    if status:
        tallies, ids = tallies.filter(status=status), ids.filter(status=status)
    if fqn:
        tallies, ids = tallies.filter(fqn=fqn), ids.filter(fqn=fqn)
    count = tallies.aggregate(n=Sum("calls"))["n"] or 0
    page_obj = _CountedPaginator(ids.values_list("pk", flat=True), CALLS_PER_PAGE, count=count).get_page(page)
    rows = Call.objects.filter(pk__in=list(page_obj.object_list)).select_related("cached_from").only(
        "pk", "run_id", "fqn", "shard_index", "attempt", "status", "backend_job_id", "return_code",
        "failure", "queued", "started", "ended", "backend", "cache_result", "cached_from__run_id",
    ).order_by("fqn", "shard_index", "attempt")
    page_obj.object_list = list(rows)
    return page_obj


@dataclass
class Slots:
    """How much of a cap is in use: jobs submitted or running, and calls waiting for a slot."""

    running: int = 0
    cap: int = 0
    queued: int = 0

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.running / self.cap)) if self.cap else 0


@dataclass
class TeamSlots:
    team: Team
    slots: Slots
    projects: list[tuple["object", Slots]]


def team_slots(*, user, team: Team | None = None) -> list[TeamSlots]:
    """Return slots in use per team of the user's and per project, counted in one query of calls."""
    from teams.selectors import project_list, team_list

    teams = list(team_list(user=user) if team is None else team_list(user=user).filter(pk=team.pk))
    projects = list(project_list(user=user).filter(team__in=teams))
    counts = {}
    for team_id, project_id, status, n in (
            Call.objects.filter(team__in=teams, status__in=Call.LIVE).order_by()
            .values_list("team_id", "project_id", "status").annotate(n=Count("pk"))):
        counts[(team_id, project_id, status)] = n

    def slots(cap: int, match) -> Slots:
        running = sum(n for (t, p, s), n in counts.items() if match(t, p) and s in Call.ACTIVE)
        queued = sum(n for (t, p, s), n in counts.items() if match(t, p) and s == Call.Status.QUEUED)
        return Slots(running=running, cap=cap, queued=queued)

    return [
        TeamSlots(
            team=t,
            slots=slots(t.max_running_jobs, lambda tid, pid, t=t: tid == t.pk),
            projects=[(p, slots(p.cap(t.max_running_jobs),
                                lambda tid, pid, p=p: pid == p.pk))
                      for p in projects if p.team_id == t.pk],
        )
        for t in teams
    ]
