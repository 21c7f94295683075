"""Cromwell's workflow query (GET or POST /api/workflows/v1/query): runs of the caller's teams and their
subworkflows, a page at a time.

Label filters read the RunLabel rows through an index, the same on SQLite and PostgreSQL.
"""
import uuid
from datetime import datetime, timezone

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, UUIDField, Value, When
from django.db.models.functions import Coalesce

from teams.models import Membership

from workflows.api.http import ApiError
from workflows.api.selectors import cromwell_time, run_labels
from workflows.models import Run, RunLabel, Subworkflow
from workflows.services.limits import LABEL_MAX, text_problem

QUERY_STATUSES = [s.value for s in Run.Status]
PAGE_SIZE_MAX = 1000  # also the page size when a client names none (Cromwell would send every run)
PAGE_MAX = 10_000_000
VALUES_MAX = 1000  # values of one query key
LABEL_FILTERS_MAX = 100  # label, labelor and excludeLabel* values together
VALUE_CHARS_MAX = 1024

_KEYS = {"submission", "start", "end", "status", "name", "id", "label", "labelor", "excludelabeland",
         "excludelabelor", "additionalqueryresultfields", "includesubworkflows", "page", "pagesize"}
_SINGLE = {"submission", "start", "end", "page", "pagesize", "includesubworkflows"}
_LABEL_KEYS = ("label", "labelor", "excludelabeland", "excludelabelor")


def _time(key: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        # In UTC: PostgreSQL takes no offset past 15:59, and a time at the very ends of the calendar
        # cannot be stored at all.
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ApiError(400, f"{value[:60]} does not parse as a datetime for {key}") from None


def _positive(key: str, value: str, most: int) -> int:
    number = int(value) if value.strip().isascii() and value.strip().isdigit() and len(value) < 20 else 0
    if number < 1:
        raise ApiError(400, f"{key} must be a positive integer, not {value[:30]!r}")
    if number > most:
        raise ApiError(400, f"{key} must be at most {most:,}, not {value[:30]}")
    return number


def _label(value: str) -> tuple[str, str]:
    key, sep, label_value = value.partition(":")
    if not sep or not key:
        raise ApiError(400, f"Label values must be of the form 'key:value', not {value[:60]!r}")
    if len(key) > LABEL_MAX or len(label_value) > LABEL_MAX:
        raise ApiError(400, f"A label key and a label value are at most {LABEL_MAX} characters each")
    return key, label_value


def _has_label(value: str) -> Q:
    key, label_value = _label(value)
    if key == "cromwell-workflow-id":  # the label Cromwell adds to every workflow: not a row
        try:
            return Q(pk=uuid.UUID(label_value.removeprefix("cromwell-")))
        except ValueError:
            return Q(pk__in=[])
    return Q(Exists(RunLabel.objects.filter(run=OuterRef("pk"), key=key, value=label_value)))


def _grouped(params: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    unknown = []
    for key, value in params:
        canonical = str(key).lower()
        if canonical not in _KEYS:
            unknown.append(str(key)[:60])
            continue
        if not isinstance(value, str):
            raise ApiError(400, f"The value of {key} must be a string")
        if len(value) > VALUE_CHARS_MAX:
            raise ApiError(400, f"The value of {key} is {len(value):,} characters; at most {VALUE_CHARS_MAX:,} are allowed")
        problem = text_problem(value)
        if problem:
            raise ApiError(400, f"The value of {key} {problem}")
        grouped.setdefault(canonical, []).append(value)
    if unknown:
        raise ApiError(400, "Unrecognized query keys: " + ", ".join(unknown))
    errors = [f"{key} may not be specified more than once." for key in sorted(_SINGLE) if len(grouped.get(key, [])) > 1]
    errors += [f"{key} is given {len(values):,} times; at most {VALUES_MAX:,} values are allowed"
               for key, values in grouped.items() if len(values) > VALUES_MAX]
    if sum(len(grouped.get(key, [])) for key in _LABEL_KEYS) > LABEL_FILTERS_MAX:
        errors.append(f"At most {LABEL_FILTERS_MAX} label filters (label, labelor, excludeLabelAnd, "
                      "excludeLabelOr) are allowed in one query")
    if errors:
        raise ApiError(400, "\n".join(errors), errors)
    return grouped


def _flag(key: str, value: str) -> bool:
    if value.strip().lower() not in ("true", "false"):
        raise ApiError(400, f"The query parameter '{key}' was malformed: '{value[:30]}' is not a valid Boolean value")
    return value.strip().lower() == "true"


def _subworkflow_status():
    """Return a subworkflow's status as SQL: Succeeded once it has outputs, else its run's end, else Running."""
    return Case(When(outputs__isnull=False, then=Value(Run.Status.SUCCEEDED)),
                When(run__status__in=[Run.Status.ABORTING, Run.Status.ABORTED, Run.Status.FAILED],
                     then=F("run__status")),
                default=Value(Run.Status.RUNNING), output_field=CharField())


def run_query(*, user, params: list[tuple[str, str]]) -> dict:
    """Return Cromwell's query response for one page of the runs of the user's teams, and of their subworkflows
    (unless includeSubworkflows=false), that match the parameters."""
    grouped = _grouped(params)
    teams = Membership.objects.filter(user=user).values("team_id")
    runs = Run.objects.filter(team_id__in=teams)
    subs = Subworkflow.objects.filter(team_id__in=teams).annotate(cromwell_status=_subworkflow_status())
    if "includesubworkflows" in grouped and not _flag("includeSubworkflows", grouped["includesubworkflows"][0]):
        subs = subs.none()
    if "status" in grouped:
        bad = [s[:60] for s in grouped["status"] if s not in QUERY_STATUSES]
        if bad:
            raise ApiError(400, "Unrecognized status values: " + ", ".join(bad))
        runs = runs.filter(status__in=grouped["status"])
        subs = subs.filter(cromwell_status__in=grouped["status"])
    if "name" in grouped:
        runs = runs.filter(version__wdl_name__in=grouped["name"])
        subs = subs.filter(name__in=grouped["name"])
    if "id" in grouped:
        ids = []
        for value in grouped["id"]:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                raise ApiError(400, f"Invalid workflow ID: '{value[:60]}'.") from None
        runs, subs = runs.filter(pk__in=ids), subs.filter(pk__in=ids)
    times = {key: _time(key, grouped[key][0]) for key in ("submission", "start", "end") if key in grouped}
    if "start" in times and "end" in times and times["start"] > times["end"]:
        raise ApiError(400, f"Specified start date is after specified end date: start: {grouped['start'][0]}, "
                            f"end: {grouped['end'][0]}")
    if "submission" in times:
        runs, subs = runs.filter(submitted__gte=times["submission"]), subs.filter(started__gte=times["submission"])
    if "start" in times:
        runs, subs = runs.filter(started__gte=times["start"]), subs.filter(started__gte=times["start"])
    if "end" in times:
        runs, subs = runs.filter(ended__lte=times["end"]), subs.filter(ended__lte=times["end"])
    for value in grouped.get("label", []):
        runs = runs.filter(_has_label(value))
    if "labelor" in grouped:
        condition = Q(pk__in=[])
        for value in grouped["labelor"]:
            condition |= _has_label(value)
        runs = runs.filter(condition)
    if "excludelabeland" in grouped:
        condition = Q()
        for value in grouped["excludelabeland"]:
            condition &= _has_label(value)
        runs = runs.exclude(condition)
    for value in grouped.get("excludelabelor", []):
        runs = runs.exclude(_has_label(value))
    if "label" in grouped or "labelor" in grouped:
        subs = subs.none()  # a subworkflow has no labels of its own
    extra = set()
    for value in grouped.get("additionalqueryresultfields", []):
        if value not in ("labels", "parentWorkflowId"):
            raise ApiError(400, f"Unrecognized additional query result field: {value[:60]}")
        extra.add(value)
    size = _positive("pageSize", grouped["pagesize"][0], PAGE_SIZE_MAX) if "pagesize" in grouped else PAGE_SIZE_MAX
    page = _positive("page", grouped["page"][0], PAGE_MAX) if "page" in grouped else 1
    # the same names in the same order on both sides, so the union's columns line up
    none = Value(None, output_field=UUIDField())
    columns = ("q_id", "q_name", "q_status", "q_submitted", "q_started", "q_ended", "q_parent", "q_root")
    rows = runs.annotate(q_id=F("pk"), q_name=F("version__wdl_name"), q_status=F("status"),
                         q_submitted=F("submitted"), q_started=F("started"), q_ended=F("ended"), q_parent=none,
                         q_root=none).order_by().values_list(*columns)
    rows = rows.union(subs.annotate(q_id=F("pk"), q_name=F("name"), q_status=F("cromwell_status"),
                                    q_submitted=F("started"), q_started=F("started"), q_ended=F("ended"),
                                    q_parent=Coalesce("parent_id", "run_id"), q_root=F("run_id"))
                      .order_by().values_list(*columns), all=True)
    total = runs.count() + subs.count()
    page_rows = [dict(zip(columns, row)) for row in rows.order_by("-q_submitted", "q_id")[(page - 1) * size: page * size]]
    labels = {}
    if "labels" in extra:
        labels = {run.pk: run_labels(run) for run in Run.objects.filter(pk__in=[r["q_id"] for r in page_rows
                                                                               if r["q_root"] is None])}
    results = []
    for row in page_rows:
        item = {"id": str(row["q_id"]), "name": row["q_name"], "status": row["q_status"],
                "submission": cromwell_time(row["q_submitted"]), "metadataArchiveStatus": "Unarchived"}
        if row["q_started"]:
            item["start"] = cromwell_time(row["q_started"])
        if row["q_ended"]:
            item["end"] = cromwell_time(row["q_ended"])
        if "labels" in extra:
            item["labels"] = labels.get(row["q_id"], {})
        if row["q_root"] is not None:
            item["rootWorkflowId"] = str(row["q_root"])
            if "parentWorkflowId" in extra:
                item["parentWorkflowId"] = str(row["q_parent"])
        results.append(item)
    return {"results": results, "totalResultsCount": total}
