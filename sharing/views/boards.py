"""Boards: the list, one board in the gallery layout, adding or removing sources and outputs, its cover and its zip."""

import tempfile
import uuid

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from team.access import browse_required, download_required, forbidden, require, safe_next
from team.models import allows
from variations.models import Output, Source
from variations.params import PRESETS
from variations.services import archive

from ..forms import BoardForm
from ..models import PUBLISHED_BOARD, Board, board_contents, board_items, boards_holding, boards_overview
from ..picking import collect_arrivals, picked_outputs, picks_by_output

curate_required = require("curate")


@browse_required
@require_GET
def board_list(request):
    return render(request, "sharing/boards.html", {"nav": "boards", "boards": boards_overview(), "form": BoardForm()})


@curate_required
@require_POST
def create_board(request):
    """A new board; with `source` or `output` posted too (from the picker), that item goes on it at once."""
    form = BoardForm(request.POST)
    thing = _posted_item(request, required=False)
    if not form.is_valid():
        messages.error(request, "; ".join(form.errors["name"]))
        return redirect(safe_next(request, reverse("boards")))
    board = Board.objects.create(name=form.cleaned_data["name"], created_by=request.user)
    if thing is not None:
        board.add(thing, request.user)
        messages.success(request, f"Board “{board.name}” made, with this {_kind(thing)} on it.")
        return redirect(safe_next(request, reverse("board", args=[board.pk])))
    messages.success(request, f"Board “{board.name}” made. Add sources from the library and outputs from galleries.")
    return redirect("board", board.pk)


@browse_required
@require_GET
def board_page(request, board_id):
    board = get_object_or_404(Board.objects.select_related("created_by"), pk=board_id)
    arriving = collect_arrivals(board)
    items = list(board_items(board))
    picks = picks_by_output([item.output_id for item in items if item.output_id])
    for item in items:
        item.picks = picks.get(item.output_id, [])
    picked_links = [
        (link, len(picked_outputs(link)))  # links of this board whose visitors picked: "Vary the picks" here too
        for link in board.share_links.select_related("created_by", "board").filter(pick_rules__isnull=False)
        if link.deletable_by(request.user) and allows(request.user, "run")
    ]
    return render(request, "sharing/board.html", {
        "nav": "boards",
        "board": board,
        "items": items,
        "arriving": arriving,
        "picked_links": [(link, count) for link, count in picked_links if count],
        "presets": PRESETS,
        "may_delete_board": board.deletable_by(request.user),
        "rename_form": BoardForm(initial={"name": board.name}),
        "return_to": request.get_full_path(),
    })


@curate_required
@require_POST
def rename_board(request, board_id):
    board = get_object_or_404(Board, pk=board_id)
    form = BoardForm(request.POST)
    if form.is_valid():
        board.rename(form.cleaned_data["name"])
        messages.success(request, f"Board renamed to “{board.name}”.")
    else:
        messages.error(request, "; ".join(form.errors["name"]))
    return redirect("board", board.pk)


@curate_required
@require_POST
def delete_board(request, board_id):
    board = get_object_or_404(Board, pk=board_id)
    if not board.deletable_by(request.user):
        return forbidden(request, "Only the person who made this board, or an admin, may delete it.")
    board.delete()
    messages.success(request, f"Board “{board.name}” deleted (its sources and outputs are still in the library).")
    return redirect("boards")


def _kind(thing):
    return "source" if isinstance(thing, Source) else "output"


def _posted_item(request, required=True):
    """The source or output named by `source` / `output` in the form or query; 404 if unknown."""
    data = request.POST if request.method == "POST" else request.GET
    for name, model in (("source", Source), ("output", Output)):
        if data.get(name):
            try:
                pk = uuid.UUID(data[name])
            except ValueError:
                raise Http404(f"No such {name}.") from None
            return get_object_or_404(model, pk=pk)
    if required:
        raise Http404("Say which source or output.")
    return None


@curate_required
@require_http_methods(["GET"])
def pick_board(request):
    """Choose boards for one source or output: each board with Add or Remove, and a new board."""
    thing = _posted_item(request)
    return render(request, "sharing/board_pick.html", {
        "nav": "boards",
        "thing": thing,
        "kind": _kind(thing),
        "boards": boards_overview(),
        "holding": boards_holding(thing),
        "form": BoardForm(),
        "next": safe_next(request, ""),
    })


@curate_required
@require_POST
def board_items_change(request, board_id):
    """Add (action=add) or remove (action=remove) a source or an output."""
    board = get_object_or_404(Board, pk=board_id)
    thing = _posted_item(request)
    if request.POST.get("action") == "remove":
        removed = board.remove(thing)
        messages.success(request, f"Removed from “{board.name}”." if removed else f"It was not on “{board.name}”.")
    elif not board.addable_by(request.user):
        return forbidden(request, PUBLISHED_BOARD)
    else:
        added = board.add(thing, request.user)
        messages.success(request, f"Added to “{board.name}”." if added else f"Already on “{board.name}”.")
    return redirect(safe_next(request, reverse("board", args=[board.pk])))


@curate_required
@require_POST
def choose_cover(request, board_id):
    """Make one item the board's cover (`item`), or with none posted go back to the first item."""
    board = get_object_or_404(Board, pk=board_id)
    item, item_id = None, request.POST.get("item", "")
    if item_id:
        item = board.items.filter(pk=int(item_id)).first() if item_id.isdigit() else None
        if item is None:
            raise Http404("No such item on this board.")
    board.choose_cover(item)
    messages.success(request, "Cover chosen." if item else "The first item is the cover again.")
    return redirect("board", board.pk)


@download_required
@require_GET
def board_zip(request, board_id):
    """The board's sources and outputs in one zip, in its order, with parameters.json and parameters.csv."""
    board = get_object_or_404(Board, pk=board_id)
    zipped = tempfile.TemporaryFile()
    archive.write_archive(zipped, *board_contents(board))
    zipped.seek(0)
    return FileResponse(zipped, as_attachment=True, filename=f"board-{board.pk}.zip", content_type="application/zip")
