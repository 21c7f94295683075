"""Cromwell's workflow query (GET or POST /api/workflows/v1/query): runs of the caller's teams, a page at a time.

Label filters read the RunLabel rows through an index, the same on SQLite and PostgreSQL.
"""
import uuid
from datetime import datetime, timezone

from django.db.models import Exists, OuterRef, Q

from workflows.api.http import ApiError
from workflows.api.selectors import cromwell_time, run_labels
from workflows.models import Run, RunLabel
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


def run_query(*, user, params: list[tuple[str, str]]) -> dict:
    """Return Cromwell's query response for one page of the runs of the user's teams that match the parameters."""
    grouped = _grouped(params)
    qs = Run.objects.filter(team__memberships__user=user).select_related("version")
    if "status" in grouped:
        bad = [s[:60] for s in grouped["status"] if s not in QUERY_STATUSES]
        if bad:
            raise ApiError(400, "Unrecognized status values: " + ", ".join(bad))
        qs = qs.filter(status__in=grouped["status"])
    if "name" in grouped:
        qs = qs.filter(version__wdl_name__in=grouped["name"])
    if "id" in grouped:
        ids = []
        for value in grouped["id"]:
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                raise ApiError(400, f"Invalid workflow ID: '{value[:60]}'.") from None
        qs = qs.filter(pk__in=ids)
    times = {key: _time(key, grouped[key][0]) for key in ("submission", "start", "end") if key in grouped}
    if "start" in times and "end" in times and times["start"] > times["end"]:
        raise ApiError(400, f"Specified start date is after specified end date: start: {grouped['start'][0]}, "
                            f"end: {grouped['end'][0]}")
    if "submission" in times:
        qs = qs.filter(submitted__gte=times["submission"])
    if "start" in times:
        qs = qs.filter(started__gte=times["start"])
    if "end" in times:
        qs = qs.filter(ended__lte=times["end"])
    for value in grouped.get("label", []):
        qs = qs.filter(_has_label(value))
    if "labelor" in grouped:
        condition = Q(pk__in=[])
        for value in grouped["labelor"]:
            condition |= _has_label(value)
        qs = qs.filter(condition)
    if "excludelabeland" in grouped:
        condition = Q()
        for value in grouped["excludelabeland"]:
            condition &= _has_label(value)
        qs = qs.exclude(condition)
    for value in grouped.get("excludelabelor", []):
        qs = qs.exclude(_has_label(value))
    extra = set()
    for value in grouped.get("additionalqueryresultfields", []):
        if value not in ("labels", "parentWorkflowId"):
            raise ApiError(400, f"Unrecognized additional query result field: {value[:60]}")
        extra.add(value)
    size = _positive("pageSize", grouped["pagesize"][0], PAGE_SIZE_MAX) if "pagesize" in grouped else PAGE_SIZE_MAX
    page = _positive("page", grouped["page"][0], PAGE_MAX) if "page" in grouped else 1
    qs = qs.distinct().order_by("-submitted", "pk")
    total = qs.count()
    results = []
    for run in qs[(page - 1) * size: page * size]:
        item = {"id": str(run.pk), "name": run.version.wdl_name, "status": run.status,
                "submission": cromwell_time(run.submitted), "metadataArchiveStatus": "Unarchived"}
        if run.started:
            item["start"] = cromwell_time(run.started)
        if run.ended:
            item["end"] = cromwell_time(run.ended)
        if "labels" in extra:
            item["labels"] = run_labels(run)
        results.append(item)
    return {"results": results, "totalResultsCount": total}
