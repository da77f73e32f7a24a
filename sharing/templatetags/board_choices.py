"""The team's boards for a choice list (the library's board filter), given from this app so variations need not import it."""

from django import template

from ..models import Board

register = template.Library()


@register.simple_tag
def board_choices():
    return Board.objects.order_by("name").only("pk", "name")
