"""Visitor picks through the JSON API (/api/v1/shares/{id}/...; mounted by fluxsite.api): who picked what
on a link, its picking rules, and "Vary the picks". The same rules as the link's page: members see their
own links, admins all; changes are for the link's maker or an admin."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from pydantic import ConfigDict, Field, model_validator

from team.api import DetailOut, ErrorsOut, requires
from variations.params import whole

from .models import links_visible_to
from .picking import PickRefused, PickRules, PickRulesIn, visitors_with_picks
from .rounds import next_round

router = Router(tags=["picks"])


class PickOut(Schema):
    output: UUID
    picked: bool
    comment: str
    comment_hidden: bool
    updated_at: datetime

    @staticmethod
    def resolve_output(obj):
        return obj.output_id


class VisitorOut(Schema):
    name: str
    confirmed_at: datetime | None
    picks: list[PickOut]

    @staticmethod
    def resolve_picks(obj):
        return obj.picks_shown


class RulesOut(Schema):
    open: bool
    accepting: bool
    min_picks: int | None
    max_picks: int | None
    deadline: datetime | None

    @staticmethod
    def resolve_accepting(obj):
        return obj.accepting()


class PicksOut(Schema):
    rules: RulesOut | None
    visitors: list[VisitorOut]


class RulesIn(PickRulesIn):
    """As the link's page sets them; JSON types exactly (true, not 1; 3, not "3"), as the schema says."""

    open: bool = Field(True, strict=True)
    min_picks: whole(ge=1, le=1000, strict=True) | None = None
    max_picks: whole(ge=1, le=1000, strict=True) | None = None

    @model_validator(mode="after")
    def _range(self):  # replaces the page's check: the operation answers 409, since the schema cannot say it
        return self


class RoundIn(Schema):
    model_config = ConfigDict(extra="forbid")
    preset: Literal["subtle", "strong"]
    share: bool = Field(False, strict=True)


class RoundOut(Schema):
    board: int
    jobs: list[UUID]
    share: int | None


def changeable(request, share_id):
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    if not link.deletable_by(request.user):
        raise HttpError(403, "Only the person who made this link or an admin may change it.")
    return link


@router.get("/{share_id}/picks", response={200: PicksOut, 403: DetailOut, 404: DetailOut}, auth=requires("share"))
def list_picks(request, share_id: int):
    """The link's picking rules (null: visitors may not pick) and each visitor's picks and comments."""
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    return {"rules": PickRules.objects.filter(link=link).first(), "visitors": visitors_with_picks(link)}


@router.put(
    "/{share_id}/picking",
    response={200: RulesOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut, 409: DetailOut},
    auth=requires("share"),
)
def set_picking(request, share_id: int, payload: RulesIn):
    """Let visitors pick (open), with at least / at most N and a deadline; open: false turns picking off.
    409 when at least is more than at most."""
    link = changeable(request, share_id)
    if payload.min_picks and payload.max_picks and payload.min_picks > payload.max_picks:
        return Reply(409, {"detail": "At least cannot be more than at most."})
    rules, _ = PickRules.objects.get_or_create(link=link)
    rules.apply(payload)
    rules.save()
    return rules


@router.post(
    "/{share_id}/vary-picks",
    response={201: RoundOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut, 409: DetailOut},
    auth=requires("run"),
)
def vary_picks(request, share_id: int, payload: RoundIn):
    """A job with the preset on every picked output, gathered on a new board (`share`: shared on this
    link's terms); 409 when nothing is picked yet or the link no longer works and `share` is asked."""
    link = changeable(request, share_id)
    try:
        board, started, new_link = next_round(link, payload.preset, request.user, payload.share)
    except PickRefused as refusal:
        return Reply(409, {"detail": str(refusal)})
    except (FileNotFoundError, ValueError) as refusal:
        return Reply(409, {"detail": f"Nothing started: {refusal}"})
    return Reply(201, {"board": board.pk, "jobs": [job.pk for job in started], "share": new_link.pk if new_link else None})
