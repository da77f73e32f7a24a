"""Where a tile's images and links lead, so one tile serves the studio and share pages.

In the studio a source's or an output's files are under /media/...; on a share page (the context
holds `share_token`) they are under /s/<token>/media/..., which grants exactly that link's files.
"""

from django import template
from django.urls import reverse

register = template.Library()
PAGES = {"source": "source-gallery", "output": "output-detail"}


def _file_url(context, item, suffix=""):
    kind = item._meta.model_name  # "source" or "output"
    token = context.get("share_token")
    if token:
        return reverse(f"shared-{kind}{suffix}", args=[token, item.pk])
    return reverse(f"media-{kind}{suffix}", args=[item.pk])


@register.simple_tag(takes_context=True)
def media_url(context, item):
    """{% media_url output %}: the original file of a source or an output."""
    return _file_url(context, item)


@register.simple_tag(takes_context=True)
def thumbnail_url(context, item):
    """{% thumbnail_url output %}: its thumbnail."""
    return _file_url(context, item, "-thumbnail")


@register.simple_tag(takes_context=True)
def archive_url(context, source):
    """{% archive_url source %}: the source's gallery as a zip."""
    token = context.get("share_token")
    return reverse("shared-download", args=[token]) if token else reverse("source-download", args=[source.pk])


@register.simple_tag(takes_context=True)
def open_url(context, item):
    """{% open_url item as url %}: where a tile's image leads: the item's studio page for a person who
    may browse, else (share pages) its original when downloads are allowed, else its larger preview."""
    may = context.get("may") or {}
    if may.get("browse"):
        return reverse(PAGES[item._meta.model_name], args=[item.pk])
    if may.get("download"):
        return _file_url(context, item)
    return _file_url(context, item, "-preview") if context.get("share_token") else ""
