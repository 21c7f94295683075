"""Formatting for templates: durations, relative times and JSON values. No logic lives here."""
import datetime as dt
import json

from django import template
from django.utils import timezone

register = template.Library()


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
