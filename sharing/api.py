"""Share links through the JSON API: /api/v1/shares (mounted by fluxsite.api, so they are in its schema)."""

import logging
from datetime import datetime
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from pydantic import ConfigDict, Field, model_validator

from team.api import DetailOut, requires
from variations.models import Source
from variations.params import whole

from .models import Board, ShareOptions, create_link, links_visible_to

log = logging.getLogger(__name__)
router = Router(tags=["shares"])


class ShareIn(ShareOptions):
    """Exactly one of `source` (a source gallery) and `board`."""

    # Neither may be null: the schema's oneOf says exactly one of them is there.
    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["source"]}, {"required": ["board"]}]})

    source: UUID = Field(None, strict=False)  # a UUID arrives as text in JSON
    board: whole(ge=1, le=2**63 - 1) = None

    @model_validator(mode="after")
    def _one_target(self):
        if (self.source is None) == (self.board is None):
            raise ValueError("give exactly one of source and board")
        return self


class TargetOut(Schema):
    type: str = Field(description="source | board | deleted (the link then answers 410)")
    id: str
    name: str


class ShareOut(Schema):
    id: int
    url: str | None = None
    token: str | None = None
    status: str
    target: TargetOut
    expires_at: datetime | None
    has_password: bool
    allow_download: bool
    show_parameters: bool
    created_at: datetime
    created_by: str | None
    view_count: int
    last_viewed_at: datetime | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_url(obj, context):
        return obj.url(context["request"])

    @staticmethod
    def resolve_token(obj):
        return obj.token()

    @staticmethod
    def resolve_status(obj):
        return obj.state

    @staticmethod
    def resolve_target(obj):
        if obj.board_id:
            return {"type": "board", "id": str(obj.board_id), "name": obj.board.name}
        if obj.source_id:
            return {"type": "source", "id": str(obj.source_id), "name": obj.source.title}
        return {"type": "deleted", "id": "", "name": obj.target_label}

    @staticmethod
    def resolve_created_by(obj):
        return obj.created_by.get_username() if obj.created_by else None


@router.post("", response={201: ShareOut, 403: DetailOut, 404: DetailOut}, auth=requires("share"))
def create_share(request, payload: ShareIn):
    """Make a share link; `expires_in_days` defaults to 30, null means never. The answer holds the link."""
    if payload.source:
        target = Source.objects.filter(pk=payload.source).first()
    else:
        target = Board.objects.filter(pk=payload.board).first()
    if target is None:
        return Reply(404, {"detail": f"Unknown {'source' if payload.source else 'board'}."})
    link, _ = create_link(target, ShareOptions.model_validate(payload.model_dump(exclude={"source", "board"})), request.user)
    return Reply(201, links_visible_to(request.user).get(pk=link.pk))


@router.get("", response={200: list[ShareOut], 403: DetailOut}, auth=requires("share"))
def list_shares(request):
    """Share links, newest first: a member's own, every link of the team for an admin."""
    return list(links_visible_to(request.user))


@router.delete("/{share_id}", response={200: ShareOut, 403: DetailOut, 404: DetailOut}, auth=requires("share"))
def revoke_share(request, share_id: int):
    """Revoke a link at once (its maker or an admin). Revoking twice is harmless."""
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    if not link.deletable_by(request.user):
        raise HttpError(403, "Only the person who made this link or an admin may revoke it.")
    if link.revoke():
        log.info("share link %s revoked by %s", link.pk, request.user.get_username())
    return link

