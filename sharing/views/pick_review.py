"""The team's side of visitor picks, on a link's page: turn picking on or off with its rules, hide a
comment, reopen a confirmed selection, export the picks as CSV, and "Vary the picks" into a new board
(shared on the same terms if asked). Changes are for the link's maker or an admin."""

import csv
from datetime import datetime, time

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from team.access import forbidden, require

from ..models import links_visible_to
from ..picking import Pick, PickRefused, PickRules, PickRulesIn, PickVisitor, visitors_with_picks
from ..rounds import next_round

share_required = require("share")


def changeable_link(request, share_id):
    """(link, None) when this person may change the link, else (None, the refusal)."""
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    if not link.deletable_by(request.user):
        return None, forbidden(request, "Only the person who made this link, or an admin, may change its picking.")
    return link, None


def _deadline(text):
    """The deadline a date field sends, as the end of that day; '' is none."""
    if not text:
        return None
    day = datetime.strptime(text, "%Y-%m-%d").date()
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


@share_required
@require_POST
def picking_rules(request, share_id):
    """Let visitors pick (with at least / at most N and a deadline), or turn picking off."""
    link, refused = changeable_link(request, share_id)
    if refused:
        return refused
    data = request.POST
    try:
        deadline = _deadline(data.get("deadline", ""))
        rules_in = PickRulesIn(
            open=data.get("open") == "on", min_picks=data.get("min_picks") or None,
            max_picks=data.get("max_picks") or None, deadline=deadline,
        )
    except ValidationError as exc:
        messages.error(request, "Picking not changed: " + "; ".join(error["msg"] for error in exc.errors()))
        return redirect("share-detail", link.pk)
    except ValueError:
        messages.error(request, "Picking not changed: give the deadline as a date.")
        return redirect("share-detail", link.pk)
    rules, _ = PickRules.objects.get_or_create(link=link)
    rules.apply(rules_in)
    rules.save()
    messages.success(request, "Visitors can pick." if rules_in.open else "Picking is off for this link.")
    return redirect("share-detail", link.pk)


@share_required
@require_POST
def hide_comment(request, share_id, pick_id):
    """Hide a visitor's comment from the team's pages (or show it again); the visitor still sees their own."""
    link, refused = changeable_link(request, share_id)
    if refused:
        return refused
    pick = get_object_or_404(Pick, pk=pick_id, visitor__link=link)
    pick.comment_hidden = not pick.comment_hidden
    pick.save(update_fields=["comment_hidden"])
    return redirect("share-detail", link.pk)


@share_required
@require_POST
def reopen_selection(request, share_id, visitor_id):
    """A confirmed selection becomes changeable again for that visitor."""
    link, refused = changeable_link(request, share_id)
    if refused:
        return refused
    PickVisitor.objects.filter(pk=visitor_id, link=link).update(confirmed_at=None)
    messages.success(request, "Selection reopened: the visitor can change it and confirm again.")
    return redirect("share-detail", link.pk)


@share_required
@require_GET
def picks_csv(request, share_id):
    """Who picked what and their comments, one row per visitor and image."""
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="picks-link-{link.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(["visitor", "confirmed_at", "output", "source_title", "picked", "comment", "comment_hidden", "updated_at"])
    for visitor in visitors_with_picks(link):
        for pick in visitor.picks_shown:
            writer.writerow([
                _cell(visitor.name), visitor.confirmed_at.isoformat() if visitor.confirmed_at else "", pick.output_id,
                _cell(pick.output.variation.source.title), pick.picked, _cell(pick.comment), pick.comment_hidden,
                pick.updated_at.isoformat(),
            ])
    return response


def _cell(text):
    """A visitor's text as a CSV cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@share_required
@require_POST
def vary_the_picks(request, share_id):
    """One click: a job for every picked output with the chosen preset, gathered on a new board, which
    is shared on the link's terms when `share` is on."""
    link, refused = changeable_link(request, share_id)
    if refused:
        return refused
    share = request.POST.get("share") == "on"
    try:
        board, started, _ = next_round(link, request.POST.get("preset", ""), request.user, share)
    except (PickRefused, FileNotFoundError, ValueError) as refusal:
        messages.error(request, f"Nothing started: {refusal}")
        return redirect("share-detail", link.pk)
    text = f"{len(started)} job{'s' if len(started) != 1 else ''} started; their outputs gather here as they finish."
    if share:
        text += " Shared on the same terms: the link is on the Shared links page."
    messages.success(request, text)
    return redirect("board", board.pk)
