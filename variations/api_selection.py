"""Bulk actions in the JSON API (/api/v1/selection/...; mounted by fluxsite.api): star, delete and zip
many sources and outputs at once, as the selection bar on the pages does (services/selection.py)."""

import tempfile
from uuid import UUID

from django.http import FileResponse
from ninja import Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from pydantic import ConfigDict, Field

from team.api import DetailOut, ErrorsOut, requires

from .services.selection import MAX_ITEMS, Selection

router = Router(tags=["selection"])


class SelectionIn(Schema):
    """Sources and outputs by id, at most 500 of each; an empty selection does nothing."""

    model_config = ConfigDict(extra="forbid")
    sources: list[UUID] = Field(default_factory=list, max_length=MAX_ITEMS)
    outputs: list[UUID] = Field(default_factory=list, max_length=MAX_ITEMS)

    def found(self):
        """The Selection, or a 404 naming the ids that match nothing (nothing is done then)."""
        selection = Selection(self.sources, self.outputs)
        if selection.unknown:
            raise HttpError(404, f"Unknown: {', '.join(selection.unknown)}.")
        return selection


class StarIn(SelectionIn):
    starred: bool = Field(True, strict=True)  # true or false, not 0 or "yes": what the schema says


class CountOut(Schema):
    count: int


class DeletedOut(Schema):
    deleted: int
    kept_running: int = Field(description="sources kept because one of their jobs still runs")


@router.post("/star", response={200: CountOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("run"))
def star(request, payload: StarIn):
    """Star (or with `starred: false` unstar) the selected outputs; sources in the selection are ignored."""
    return {"count": payload.found().star(payload.starred)}


@router.post("/delete", response={200: DeletedOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("delete"))
def delete(request, payload: SelectionIn):
    """Delete the selected outputs and sources (a source with its whole gallery). All or nothing: if the
    caller may not delete one of them (members delete their own work, admins anything), nothing goes."""
    selection = payload.found()
    refused = selection.refused_deletes(request.user)
    if refused:
        raise HttpError(403, f"{refused} of the {len(selection)} selected are other people's work: nothing was deleted.")
    deleted, kept_running = selection.delete()
    return Reply(200, {"deleted": deleted, "kept_running": kept_running})


@router.post("/zip", response={200: None, 400: ErrorsOut, 403: DetailOut, 404: DetailOut}, auth=requires("download"))
def zip_selection(request, payload: SelectionIn):
    """The selected sources and outputs in one zip, with parameters.json and parameters.csv."""
    zipped = tempfile.TemporaryFile()
    payload.found().write_zip(zipped)
    zipped.seek(0)
    return FileResponse(zipped, as_attachment=True, filename="selection.zip", content_type="application/zip")
