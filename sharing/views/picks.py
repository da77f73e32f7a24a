"""What a visitor with a link that asks for picks sends: pick or unpick an output, comment on it, and
confirm the selection (sharing.picking). JSON in and out, for static/js/picks.js; the visitor is known
by the random key their browser keeps, sent as X-Pick-Key. Rate-limited per visitor and per link."""

import json

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import ValidationError

from team.throttle import Throttle
from variations.params import errors_by_field

from ..picking import PickIn, PickRefused, confirm, key_digest, record_pick, visitor_for
from .shared import open_link, private

PER_VISITOR = Throttle("picks-visitor", limit=120, seconds=10 * 60)
PER_LINK = Throttle("picks-link", limit=2000, seconds=10 * 60)
KEY_LENGTHS = range(16, 129)


def answer(data, status=200):
    return private(JsonResponse(data, status=status))


def state(link, visitor):
    """What the visitor's page shows: the rules, their name, whether confirmed, and their picks."""
    rules = getattr(link, "pick_rules", None)
    picks = {}
    if visitor is not None:
        picks = {str(pick.output_id): {"picked": pick.picked, "comment": pick.comment} for pick in visitor.picks.all()}
    return {
        "open": bool(rules and rules.accepting()),
        "min_picks": rules.min_picks if rules else None,
        "max_picks": rules.max_picks if rules else None,
        "deadline": rules.deadline.isoformat() if rules and rules.deadline else None,
        "name": visitor.name if visitor else "",
        "confirmed": bool(visitor and visitor.confirmed_at),
        "picks": picks,
    }


def opened(request, token):
    """(link, key, None) for a live link, unlocked in this session, and a well-formed key; else the refusal."""
    link, refused = open_link(request, token, when_locked=lambda link: answer({"detail": "Give the link's password first."}, 403))
    if refused:
        return None, None, refused
    key = request.headers.get("X-Pick-Key", "")
    if len(key) not in KEY_LENGTHS:
        return None, None, answer({"detail": "This browser sent no pick key."}, 400)
    return link, key, None


def limited(link, key):
    """True (and nothing counted) when this visitor or this link has sent too many changes lately."""
    parts = (str(link.pk), key_digest(key))
    if PER_VISITOR.blocked(*parts) or PER_LINK.blocked(str(link.pk)):
        return True
    PER_VISITOR.failed(*parts)
    PER_LINK.failed(str(link.pk))
    return False


@never_cache
@require_http_methods(["GET", "POST"])
def picks(request, token):
    """GET: this visitor's picks; POST {name, output, picked?, comment?}: one change, answered with them all."""
    link, key, refused = opened(request, token)
    if refused:
        return refused
    if request.method == "GET":
        return answer(state(link, visitor_for(link, key)))
    if limited(link, key):
        return answer({"detail": "Too many changes at once: wait a few minutes."}, 429)
    try:
        change = PickIn.model_validate(json.loads(request.body or b"{}"))
    except (ValueError, ValidationError) as exc:
        errors = errors_by_field(exc.errors()) if isinstance(exc, ValidationError) else {"": ["Send JSON."]}
        return answer({"errors": errors}, 400)
    try:
        pick = record_pick(link, key, change)
    except PickRefused as refusal:
        return answer({"detail": str(refusal)}, refusal.status)
    return answer(state(link, pick.visitor))


@never_cache
@require_POST
def confirm_picks(request, token):
    """Confirm this visitor's selection: it then stays as it is until the link's maker reopens it."""
    link, key, refused = opened(request, token)
    if refused:
        return refused
    if limited(link, key):
        return answer({"detail": "Too many changes at once: wait a few minutes."}, 429)
    try:
        visitor = confirm(link, key)
    except PickRefused as refusal:
        return answer({"detail": str(refusal)}, refusal.status)
    return answer(state(link, visitor))
