"""Making and managing share links: the new-link form, the Shared links page, editing and revoking."""

import logging
import uuid

import segno
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from team.access import forbidden, require
from team.models import allows
from variations.models import Source
from variations.params import PRESETS

from ..forms import ShareForm
from ..models import Board, create_link, hand_over_links, links_visible_to
from ..picking import PickRules, visitors_with_picks, with_pick_counts

log = logging.getLogger(__name__)
share_required = require("share")


def qr_svg(url):
    """The link as an inline SVG QR code (segno: pure Python, no network)."""
    return segno.make(url, error="m").svg_inline(scale=4, dark="#111", light="#fff", border=2)


def _target(request):
    data = request.POST if request.method == "POST" else request.GET
    if data.get("board"):
        try:
            return get_object_or_404(Board, pk=int(data["board"]))
        except ValueError:
            raise Http404("No such board.") from None
    try:
        return get_object_or_404(Source, pk=uuid.UUID(data.get("source", "")))
    except ValueError:
        raise Http404("Say which source gallery or board to share.") from None


@never_cache
@share_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def new_share(request):
    """The options for a new link; once made, the page shows it with copy and QR code."""
    target = _target(request)
    form = ShareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        link, _ = create_link(target, form.options, request.user)
        if request.POST.get("let_visitors_pick") == "on":
            PickRules.objects.create(link=link)  # open, no limits: the link's page sets them
        messages.success(request, "Link made. Copy it and send it to whoever should see this.")
        return redirect("share-detail", link.pk)
    return render(request, "sharing/share_new.html", {
        "nav": "shares", "form": form, "target": target, "is_board": isinstance(target, Board),
    }, status=400 if form.errors else 200)


@never_cache
@share_required
def share_list(request):
    """The links a person may see: a member's own, every link of the team for an admin."""
    rows = list(with_pick_counts(links_visible_to(request.user)))
    for link in rows:
        link.may_change = link.deletable_by(request.user)
        link.absolute_url = link.url(request)
    return render(request, "sharing/shares.html", {"nav": "shares", "links": rows})


@never_cache
@share_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def share_detail(request, share_id):
    """One link: copy it, its QR code, its use, and (for its maker or an admin) edit its options."""
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    may_change = link.deletable_by(request.user)
    form = ShareForm.for_link(link, request.POST or None)
    if request.method == "POST":
        if not may_change:
            return forbidden(request, "Only the person who made this link, or an admin, may change it.")
        if not link.is_active:
            messages.error(request, f"This link is {link.state}; make a new one instead.")
            return redirect("share-detail", link.pk)
        if form.is_valid():
            link.apply(form.options, keep_password=form.keeps_password, keep_expiry=form.keeps_expiry)
            link.save(update_fields=["expires_at", "password", "allow_download", "show_parameters"])
            log.info("share link %s changed by %s", link.pk, request.user.get_username())
            messages.success(request, "Link updated. It works at once with the new options.")
            return redirect("share-detail", link.pk)
    url = link.url(request)
    if link.created_by_id == request.user.pk:  # the maker has now seen the picks: the nav count drops
        PickRules.objects.filter(link=link).update(seen_at=timezone.now())
    return render(request, "sharing/share_detail.html", {
        "nav": "shares", "link": link, "url": url, "qr": qr_svg(url) if url and link.is_active else "",
        "form": form, "may_change": may_change,
        "picking": PickRules.objects.filter(link=link).first(), "visitors": visitors_with_picks(link), "presets": PRESETS,
    }, status=400 if form.errors else 200)


@share_required
@require_POST
def revoke_share(request, share_id):
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    if not link.deletable_by(request.user):
        return forbidden(request, "Only the person who made this link, or an admin, may revoke it.")
    if link.revoke():
        log.info("share link %s revoked by %s", link.pk, request.user.get_username())
        messages.success(request, "Link revoked: it stops working now.")
    else:
        messages.info(request, "That link was revoked already.")
    return redirect("shares")


@require("manage")
@require_POST
def hand_over(request, user_id):
    """From the People page: give every link a person made to another member or admin, so the links
    go on working after that person is deactivated (or work again, if they were already)."""
    people = get_user_model().objects.filter(is_active=True)
    giver = get_object_or_404(get_user_model(), pk=user_id)
    to = request.POST.get("to", "")
    heir = people.exclude(pk=giver.pk).filter(pk=int(to)).first() if to.isdecimal() else None
    if heir is None or not allows(heir, "share"):
        messages.error(request, "Choose an active member or admin to hand the links to.")
        return redirect("people")
    handed = hand_over_links(giver, heir)
    log.info("%s handed %s share links of %s to %s", request.user.get_username(), handed, giver.get_username(), heir.get_username())
    messages.success(request, f"{handed} share link{'s' if handed != 1 else ''} of {giver.get_username()} now belong to {heir.get_username()}.")
    return redirect("people")
