"""{{ amount|usd }}: money as everywhere else in the app (variations.ledger.format_usd)."""

from django import template

from ..ledger import format_usd

register = template.Library()


@register.filter
def usd(amount):
    return format_usd(amount)
