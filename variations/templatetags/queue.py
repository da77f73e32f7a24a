"""{{ job|why_waiting }}: why a queued job has not gone out yet (variations.waiting), for the pages."""

from django import template

from ..waiting import why_waiting as waiting_reason

register = template.Library()


@register.filter
def why_waiting(job):
    return waiting_reason(job)
