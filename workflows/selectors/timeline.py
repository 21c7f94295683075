"""A run's calls on a time axis: the data of a Gantt chart, drawn by templates/workflows/_timeline.html."""
import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, Min, Q, QuerySet, Sum
from django.utils import timezone

from workflows.models import Call, CallTally, Run

TIMELINE_MAX_ROWS = 200  # beyond this many call attempts the timeline shows one row per call name
# A retried run's pause (failed, then retried hours later) is cut down to a narrow break in the axis
# once it takes this share of the timeline, so the work on either side stays readable.
PAUSE_SHARE = 0.1
PAUSE_WIDTH = 5.0  # percent of the axis a cut-down pause takes
TICK_ROOM = 4.0  # percent beside a break kept free of tick labels, where the break's own label goes


@dataclass
class Bar:
    """One row of the timeline: a call attempt, or every attempt of one call name."""

    label: str
    status: str
    queued_left: float  # percentages of the timeline's width
    queued_width: float
    run_left: float
    run_width: float
    title: str


@dataclass
class Break:
    """A pause of a retried run, drawn not to scale."""

    left: float
    width: float
    seconds: float


@dataclass
class Timeline:
    start: dt.datetime
    end: dt.datetime
    seconds: float  # drawn to scale: the whole timeline less its breaks
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (left %, label)
    grouped: bool  # one bar per call name: the run has more attempts than TIMELINE_MAX_ROWS
    attempts: int
    breaks: list[Break]


@dataclass
class _Span:
    label: str
    status: str
    attempts: int
    queued: dt.datetime
    started: dt.datetime | None
    ended: dt.datetime | None


def run_timeline(*, run: Run, attempts: int | None = None, now: dt.datetime | None = None) -> Timeline:
    """Lay the run's calls out on a time axis (a Gantt chart); attempts (if known) saves counting them."""
    now = now or timezone.now()
    tallies = CallTally.objects.filter(run=run).order_by()
    if attempts is None:
        attempts = tallies.aggregate(n=Sum("calls"))["n"] or 0
    grouped = attempts > TIMELINE_MAX_ROWS
    spans = _name_spans(tallies) if grouped else _attempt_spans(Call.objects.filter(run=run).order_by())
    start = min([run.submitted, *(s.queued for s in spans)])
    end = max([run.ended or now, *(s.ended or now for s in spans)])
    axis = _Axis(start, end, run.pause_spans)
    pct = axis.pct

    bars = []
    for span in spans:
        finish = span.ended or now
        began = span.started or finish
        ran = (finish - began).total_seconds() if span.started else 0.0
        bars.append(Bar(
            label=span.label, status=span.status,
            queued_left=pct(span.queued), queued_width=max(pct(began) - pct(span.queued), 0.0),
            run_left=pct(began), run_width=max(pct(finish) - pct(began), 0.3) if span.started else 0.0,
            title=f"{span.label}: {span.status}, waited {(began - span.queued).total_seconds():.1f} s, ran {ran:.1f} s",
        ))
    return Timeline(start=start, end=end, seconds=axis.seconds, bars=bars, ticks=axis.ticks(), grouped=grouped,
                    attempts=sum(s.attempts for s in spans), breaks=axis.breaks())


class _Axis:
    """Moments as percentages of the timeline's width, with each long pause cut down to a break."""

    def __init__(self, start: dt.datetime, end: dt.datetime, pauses: list[tuple[dt.datetime, dt.datetime]]):
        total = max((end - start).total_seconds(), 1.0)
        clipped = [(max(failed, start), min(retried, end)) for failed, retried in pauses]
        self.start, self.end = start, end
        self.cuts = [(a, b) for a, b in clipped if (b - a).total_seconds() >= PAUSE_SHARE * total]
        self.seconds = max(total - sum((b - a).total_seconds() for a, b in self.cuts), 1.0)
        self.scale = (100 - PAUSE_WIDTH * len(self.cuts)) / self.seconds

    def pct(self, moment: dt.datetime) -> float:
        offset, since = 0.0, self.start
        for a, b in self.cuts:
            if moment <= a:
                break
            offset += (a - since).total_seconds() * self.scale
            if moment < b:
                return round(offset + PAUSE_WIDTH * (moment - a) / (b - a), 3)
            offset, since = offset + PAUSE_WIDTH, b
        return round(offset + max((moment - since).total_seconds(), 0.0) * self.scale, 3)

    def breaks(self) -> list[Break]:
        return [Break(left=self.pct(a), width=PAUSE_WIDTH, seconds=(b - a).total_seconds()) for a, b in self.cuts]

    def ticks(self) -> list[tuple[float, str]]:
        """Label time since submission, and after a break time since the retry (+30s)."""
        step = _tick_step(self.seconds)
        origins = [self.start, *(b for _, b in self.cuts)]
        ends = [*(a for a, _ in self.cuts), self.end]
        free = [(br.left - TICK_ROOM, br.left + br.width + TICK_ROOM) for br in self.breaks()]
        ticks = []
        for n, (origin, until) in enumerate(zip(origins, ends)):
            for t in range(0, int((until - origin).total_seconds()) + 1, step):
                left = self.pct(origin + dt.timedelta(seconds=t))
                if not any(lo <= left <= hi for lo, hi in free):
                    ticks.append((left, f"+{_tick_label(t)}" if n else _tick_label(t)))
        return ticks


def _attempt_spans(calls: QuerySet[Call]) -> list[_Span]:
    """Return one span per call attempt (the first TIMELINE_MAX_ROWS)."""
    rows = calls.order_by("queued", "pk").values_list(
        "fqn", "shard_index", "attempt", "status", "queued", "started", "ended")[:TIMELINE_MAX_ROWS]
    return [_Span(label=f"{fqn}{f'[{shard}]' if shard >= 0 else ''}{f' #{attempt}' if attempt > 1 else ''}",
                  status=status, attempts=1, queued=queued, started=started, ended=ended)
            for fqn, shard, attempt, status, queued, started, ended in rows]


def _name_spans(tallies: QuerySet[CallTally]) -> list[_Span]:
    """Return one span per call name, from its first queued attempt to its last to end (from the tally)."""
    def count(*statuses):
        return Sum("calls", filter=Q(status__in=statuses))

    rows = tallies.values("fqn").annotate(
        n=Sum("calls"), queued=Min("queued"), started=Min("started"), ended=Max("ended"),
        live=count(*Call.LIVE), active=count(*Call.ACTIVE), failed=count(Call.Status.FAILED),
        aborted=count(Call.Status.ABORTED),
    ).filter(n__gt=0).order_by("queued")
    return [_Span(label=f"{r['fqn']} ×{r['n']}",
                  status=("failed" if r["failed"] else "running" if r["active"] else "queued" if r["live"]
                          else "aborted" if r["aborted"] else "succeeded"),
                  attempts=r["n"], queued=r["queued"], started=r["started"], ended=None if r["live"] else r["ended"])
            for r in rows]


def _tick_step(seconds: float) -> int:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400):
        if seconds / step <= 8:
            return step
    return 86400 * (int(seconds / 86400 / 8) + 1)


def _tick_label(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m" + (f"{seconds % 60:02d}s" if seconds % 60 else "")
    return f"{seconds // 3600}h" + (f"{seconds % 3600 // 60:02d}m" if seconds % 3600 else "")
