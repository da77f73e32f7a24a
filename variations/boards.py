"""Boards: named collections of sources and chosen outputs, like albums, kept by the team."""

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone


class Board(models.Model):
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="boards")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.name

    def touch(self):
        Board.objects.filter(pk=self.pk).update(updated_at=timezone.now())

    def add(self, thing, user):
        """Put a source or an output on the board; adding it twice changes nothing. True if it was new."""
        try:
            with transaction.atomic():
                BoardItem.objects.create(board=self, added_by=user, **BoardItem.target_fields(thing))
        except IntegrityError:
            return False
        self.touch()
        return True

    def remove(self, thing):
        removed, _ = self.items.filter(**BoardItem.target_fields(thing)).delete()
        if removed:
            self.touch()
        return bool(removed)


class BoardItem(models.Model):
    """One source or one output on a board (exactly one of the two)."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="items")
    source = models.ForeignKey("variations.Source", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    output = models.ForeignKey("variations.Output", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__isnull=False, output__isnull=True)
                | models.Q(source__isnull=True, output__isnull=False),
                name="board_item_is_a_source_or_an_output",
            ),
            models.UniqueConstraint(fields=["board", "source"], name="source_once_per_board"),
            models.UniqueConstraint(fields=["board", "output"], name="output_once_per_board"),
        ]

    @staticmethod
    def target_fields(thing):
        from .models import Output, Source

        if isinstance(thing, Source):
            return {"source": thing}
        if isinstance(thing, Output):
            return {"output": thing}
        raise TypeError(f"a board holds sources and outputs, not {type(thing).__name__}")


def board_items(board):
    """The board's items with what their tiles show, in a fixed number of queries."""
    return board.items.select_related("source", "output__variation__source", "added_by")


def boards_holding(thing):
    """Ids of the boards that hold this source or output (the board picker marks them)."""
    return set(BoardItem.objects.filter(**BoardItem.target_fields(thing)).values_list("board_id", flat=True))
