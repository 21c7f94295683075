"""Two runs side by side: their inputs, options, labels and outputs, and each call's statuses and durations."""
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Sum

from workflows.models import Call, Run
from workflows.selectors.runs import Progress

MISSING = object()  # a key one run has and the other does not


@dataclass(frozen=True)
class ValueRow:
    key: str
    a: object
    b: object

    @property
    def differs(self) -> bool:
        return self.a != self.b

    @property
    def a_missing(self) -> bool:
        return self.a is MISSING

    @property
    def b_missing(self) -> bool:
        return self.b is MISSING


@dataclass
class CallSide:
    """One run's attempts of one call name: how they ended, and how long they ran (latest attempts only)."""

    progress: Progress = field(default_factory=lambda: Progress.of({}))
    longest: timedelta | None = None
    total: timedelta | None = None


@dataclass(frozen=True)
class CallRow:
    fqn: str
    a: CallSide | None
    b: CallSide | None

    @property
    def differs(self) -> bool:
        def shape(side):
            return None if side is None else [(c.status, c.count) for c in side.progress.counts]
        return shape(self.a) != shape(self.b)


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    inputs: list[ValueRow]
    options: list[ValueRow]
    labels: list[ValueRow]
    outputs: list[ValueRow]
    calls: list[CallRow]


def _rows(a: dict | None, b: dict | None) -> list[ValueRow]:
    a, b = a or {}, b or {}
    keys = list(a) + [key for key in b if key not in a]
    return [ValueRow(key, a.get(key, MISSING), b.get(key, MISSING)) for key in keys]


def _call_sides(run: Run) -> dict[str, CallSide]:
    """Count a run's calls per name and status, with their longest and total run time, in one query."""
    took = ExpressionWrapper(F("ended") - F("started"), output_field=DurationField())
    found: dict[str, dict] = {}
    rows = (Call.objects.filter(run=run).order_by().values("fqn", "status")
            .annotate(n=Count("pk"), longest=Max(took), total=Sum(took)))
    for row in rows:
        side = found.setdefault(row["fqn"], {"counts": {}, "longest": None, "total": None})
        side["counts"][row["status"]] = row["n"]
        if row["status"] in Call.SUPERSEDED or row["total"] is None:
            continue  # an attempt that was retried is not the call's time
        side["longest"] = max(filter(None, [side["longest"], row["longest"]]))
        side["total"] = (side["total"] or timedelta()) + row["total"]
    return {fqn: CallSide(Progress.of(s["counts"]), s["longest"], s["total"]) for fqn, s in found.items()}


def run_comparison(*, a: Run, b: Run) -> Comparison:
    """Put two runs side by side (the caller has checked the user may read both)."""
    calls_a, calls_b = _call_sides(a), _call_sides(b)
    return Comparison(
        a=a, b=b, inputs=_rows(a.inputs, b.inputs), options=_rows(a.options, b.options),
        labels=_rows(a.labels, b.labels), outputs=_rows(a.outputs, b.outputs),
        calls=[CallRow(fqn, calls_a.get(fqn), calls_b.get(fqn)) for fqn in sorted(set(calls_a) | set(calls_b))],
    )
