"""Per-object permissions for the templates (the views check them again)."""

from django import template

register = template.Library()


@register.filter
def deletable_by(thing, user):
    """{% if job|deletable_by:user %}: may this person delete this source, job, board or link?"""
    return thing.deletable_by(user)
