"""Small formatting filters for the studio pages (presentation only; no queries, no rules)."""

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from ..models import ACTIVE_STATUSES
from ..services import sources

register = template.Library()


@register.filter
def is_active(job):
    """Is the job still on its way (queued, submitting, processing or storing)?"""
    return job.status in ACTIVE_STATUSES


@register.filter
def count_range(number):
    """range(number), for placeholders of outputs still being made."""
    return range(number or 0)


@register.filter
def size_label(size):
    """'1024*768' as '1024 × 768'."""
    return str(size).replace("*", " × ")


def _short(seconds):
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def milliseconds(value):
    """An inference time in ms, short and readable ('2.4 s'); '' when unknown."""
    return "" if value is None else _short(value / 1000)


@register.filter
def duration_until(start, end):
    """The time from `start` to `end` ('1.2 s'); '' while either is unknown."""
    if not start or not end:
        return ""
    return _short(max(0.0, (end - start).total_seconds()))


# The app's one size formatter, sources.size_text, as the upload errors word sizes: binary units
# ("20 MB" is 20 * 1024 * 1024 bytes, the upload limit, as WaveSpeed counts its 20 MB).
register.filter("size_text", sources.size_text)


@register.filter
def ago(moment):
    """'just now' within a minute, else '5 minutes ago' (the exact time goes in a title attribute)."""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, depth=1)} ago"
