"""Formatting for templates: durations, relative times, JSON values and where names wrap. No logic lives here."""
import datetime as dt
import functools
import json
import re

from django import template
from django.template.defaultfilters import slugify
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()

_BREAK_AFTER = re.compile(r"([._/=:,-]+)")
FITS_ANYWHERE = 20  # characters: a name this short fits any column whole, so it is left as it is


@register.filter
def duration(value) -> str:
    """Format seconds or a timedelta as 4.2 s, 3 m 05 s, 2 h 07 m or 3 d 04 h."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


@register.filter
def until(start, end=None) -> str:
    """Format the time from start to end (or to now, while it lasts)."""
    if not start:
        return ""
    return duration((end or timezone.now()) - start)


@register.simple_tag
def status(value, label=None) -> str:
    """A run's or call's status as a badge, reading label (by default the status itself)."""
    return format_html('<span class="status status-{}">{}</span>', slugify(value), label or value)


@register.simple_tag
def moment(value) -> str:
    """A moment as "5 min ago" with the exact time on hover; a dash when there is none. (A tag, not an
    included template: the call table shows a hundred.)"""
    if not value:
        return mark_safe('<span class="muted">—</span>')
    local = timezone.template_localtime(value)  # what |date:"c" and |date:"Y-m-d H:i:s T" show, sooner
    return format_html('<time datetime="{}" title="{}">{}</time>', local.isoformat(),
                       local.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip(), ago(value))


@register.simple_tag
def call_log_url(pk: int, stream: str) -> str:
    """The URL of a call's log, as {% url 'workflows:call_log' pk stream %} gives it, without resolving the
    URL for each row of the call table (two a row, a hundred rows a refresh)."""
    return _call_log_pattern(get_script_prefix()).format(pk=int(pk), stream=stream)


@functools.lru_cache(maxsize=8)
def _call_log_pattern(prefix: str) -> str:
    return reverse("workflows:call_log", args=[987654321, "STREAM"]).replace("987654321", "{pk}", 1).replace(
        "STREAM", "{stream}", 1)


@register.filter
def ago(moment) -> str:
    """Format a past moment relative to now: just now, 12 s ago, 5 min ago, 3 h ago, 2 days ago."""
    if not moment:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


@register.filter
def tojson(value) -> str:
    """Write a value as JSON, indented when it is a list or an object."""
    if isinstance(value, (dict, list)) and value:
        return json.dumps(value, indent=2, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


@register.filter
def breakable(value) -> str:
    """Escape a name, path or value and let it wrap after dots, underscores, slashes and kin, not mid-word."""
    text = escape(value)
    return text if len(str(value)) <= FITS_ANYWHERE else mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", text))


FOLD_ITEMS = 8  # a list or map longer than this is folded on the run page, with its size shown


@register.filter
def fold(value) -> str:
    """Name the size of a list or map too long to show unfolded ("50 items"), or "" to show it whole."""
    if isinstance(value, (list, dict)) and len(value) > FOLD_ITEMS:
        return f"{len(value):,} {'entries' if isinstance(value, dict) else 'items'}"
    return ""
