"""Boards through the JSON API: /api/v1/boards (mounted by fluxsite.api): list, create, rename, choose a
cover, add many sources and outputs at once, remove, reorder, zip and delete. The pages do the same
through the same Board methods (sharing.models)."""

import tempfile
from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from pydantic import ConfigDict, Field, StringConstraints

from team.api import DetailOut, ErrorsOut, requires
from variations.api_selection import SelectionIn
from variations.params import whole
from variations.services import archive

from .models import PUBLISHED_BOARD, Board, board_contents, board_items, boards_overview
from .picking import collect_arrivals

router = Router(tags=["boards"])

BoardName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
ItemId = whole(ge=1, le=2**63 - 1)  # in a strict model: a number (2.0 too, as JSON Schema says), not true or "3"


class ItemOut(Schema):
    id: int
    type: str = Field(description="source | output")
    target: UUID = Field(description="the source's or the output's id")
    thumbnail_url: str
    position: int
    added_at: datetime

    @staticmethod
    def resolve_type(obj):
        return "source" if obj.source_id else "output"

    @staticmethod
    def resolve_target(obj):
        return obj.source_id or obj.output_id

    @staticmethod
    def resolve_thumbnail_url(obj, context):
        name, pk = ("media-source-thumbnail", obj.source_id) if obj.source_id else ("media-output-thumbnail", obj.output_id)
        return context["request"].build_absolute_uri(reverse(name, args=[pk]))


class BoardOut(Schema):
    id: int
    name: str
    item_count: int
    cover: ItemOut | None = Field(description="the chosen cover, else the first item")
    created_by: str | None
    created_at: datetime
    updated_at: datetime = Field(description="the last change: items added, removed or reordered, or a rename")

    @staticmethod
    def resolve_created_by(obj):
        return obj.created_by.get_username() if obj.created_by else None


class BoardDetailOut(BoardOut):
    items: list[ItemOut]

    @staticmethod
    def resolve_items(obj):
        return list(board_items(obj))


class BoardIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: BoardName


class BoardChanges(Schema):
    """A new name, and/or the item to show as the cover (null: the first item again)."""

    model_config = ConfigDict(extra="forbid", strict=True)  # with ItemId: 2.0 is 2, true and "3" are refused
    name: BoardName | None = None
    cover: ItemId | None = Field(None, description="an item id of this board; null: the first item")


class OrderIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)
    items: list[ItemId] = Field(max_length=10_000, description="item ids in their new order; items left out follow")


class AddedOut(Schema):
    added: int
    board: BoardDetailOut


class RemovedOut(Schema):
    removed: int


def one_board(board_id):
    """The board as the list shows it (count and cover), or 404."""
    boards = boards_overview(Board.objects.filter(pk=board_id))
    if not boards:
        raise HttpError(404, "No such board.")
    return boards[0]


@router.get("", response={200: list[BoardOut], 403: DetailOut}, auth=requires("browse"))
def list_boards(request):
    """Every board of the team, last changed first, with its item count and cover."""
    return boards_overview()


@router.post("", response={201: BoardDetailOut, 400: ErrorsOut, 403: DetailOut}, auth=requires("curate"))
def create_board(request, payload: BoardIn):
    board = Board.objects.create(name=payload.name, created_by=request.user)
    return Reply(201, one_board(board.pk))


@router.get("/{board_id}", response={200: BoardDetailOut, 403: DetailOut, 404: DetailOut}, auth=requires("browse"))
def get_board(request, board_id: int):
    """A board with its items in their order (a "Vary the picks" board takes in its jobs' new outputs first)."""
    collect_arrivals(get_object_or_404(Board, pk=board_id))
    return one_board(board_id)


@router.patch("/{board_id}", response={200: BoardDetailOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("curate"))
def change_board(request, board_id: int, payload: BoardChanges):
    """Rename the board and/or choose its cover."""
    board = get_object_or_404(Board, pk=board_id)
    if payload.name is not None:
        board.rename(payload.name)
    if "cover" in payload.model_fields_set:
        item = None
        if payload.cover is not None:
            item = board.items.filter(pk=payload.cover).first()
            if item is None:  # a well-formed id naming nothing here: not found, as for any id (the schema allows it)
                return Reply(404, {"detail": "The cover is not an item of this board."})
        board.choose_cover(item)
    return one_board(board.pk)


@router.delete("/{board_id}", response={204: None, 403: DetailOut, 404: DetailOut}, auth=requires("curate"))
def delete_board(request, board_id: int):
    """Delete a board (its maker or an admin); its sources and outputs stay in the library."""
    board = get_object_or_404(Board, pk=board_id)
    if not board.deletable_by(request.user):
        raise HttpError(403, "Only the person who made this board, or an admin, may delete it.")
    board.delete()
    return Reply(204, None)


@router.post("/{board_id}/items", response={200: AddedOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("curate"))
def add_items(request, board_id: int, payload: SelectionIn):
    """Add many sources and outputs at once, after the last item, in the order given (those already on
    the board stay where they are). Unknown ids: 404 and nothing is added."""
    board = get_object_or_404(Board, pk=board_id)
    if not board.addable_by(request.user):
        raise HttpError(403, PUBLISHED_BOARD)
    added = board.add_many(payload.found().things, request.user)
    return {"added": added, "board": one_board(board.pk)}


@router.post("/{board_id}/items/remove", response={200: RemovedOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("curate"))
def remove_items(request, board_id: int, payload: SelectionIn):
    """Take sources and outputs off the board (they stay in the library); `removed` counts those that were on it."""
    board = get_object_or_404(Board, pk=board_id)
    return {"removed": board.remove_many(payload.found().things)}


@router.put("/{board_id}/items/order", response={200: BoardDetailOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("curate"))
def reorder_items(request, board_id: int, payload: OrderIn):
    """Put the items in this order (ids from `items`); any left out keep their order after them."""
    board = get_object_or_404(Board, pk=board_id)
    board.reorder(payload.items)
    return one_board(board.pk)


@router.get("/{board_id}/zip", response={200: None, 403: DetailOut, 404: DetailOut}, auth=requires("download"))
def board_zip(request, board_id: int):
    """The board's sources and outputs in one zip, in the board's order, with parameters.json and .csv."""
    board = get_object_or_404(Board, pk=board_id)
    zipped = tempfile.TemporaryFile()
    archive.write_archive(zipped, *board_contents(board))
    zipped.seek(0)
    return FileResponse(zipped, as_attachment=True, filename=f"board-{board.pk}.zip", content_type="application/zip")
