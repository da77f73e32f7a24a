"""What a person with a share link sees, without an account: a read-only gallery or board.

Every answer under /s/<token>/ first passes `open_link`: an unknown token is 404, a revoked or
expired one 410 at once (nothing is cached), and a link with a password needs it typed in this
browser session (tries throttled per link and address). Images come from /s/<token>/media/...,
which grants exactly the files of this link's gallery or board (sharing.views.media).
"""

import logging

from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from team import throttle
from team.models import PERMISSIONS
from variations.models import Status, Variation

from ..forms import SharePasswordForm
from ..models import board_items, find_link
from ..picking import collect_arrivals

log = logging.getLogger(__name__)
JOBS_PER_PAGE = 10
GONE = {  # a link's state: (title, text) of the 410 page
    "revoked": ("This link was turned off",
                "The people who shared this turned the link off. Ask them for a new one if you still need it."),
    "inactive": ("This link is no longer active",
                 "The person who shared this is no longer active in the team, so their links stopped working. "
                 "Ask the team for a new one if you still need it."),
    "gone": ("This is no longer available",
             "What this link shared was deleted. Ask the people who shared it if you still need it."),
    "expired": ("This link was only valid for a while",
                "This link has expired. Ask the people who shared it for a new one if you still need it."),
}


def private(response):
    """Shared answers are not cached, not indexed, and never send the link to another site as a Referer.

    same-origin rather than no-referrer: with no-referrer browsers send `Origin: null` on the password
    form's POST, which Django's CSRF check rightly refuses.
    """
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def gone(request, link):
    if link is None:
        context = {"code": 404, "title": "This link does not work", "text": "Check that it was copied whole, or ask for a new one."}
        return private(render(request, "sharing/link_gone.html", context, status=404))
    title, text = GONE[link.state]
    context = {"code": 410, "title": title, "text": text}
    return private(render(request, "sharing/link_gone.html", context, status=410))


def _session_key(link):
    return f"share-unlocked:{link.pk}"


def is_unlocked(request, link):
    return not link.has_password or request.session.get(_session_key(link)) == link.password_fingerprint()


def open_link(request, token, when_locked=None):
    """(link, None) when the link may be used by this request, else (None, the answer to send): 404 or
    410 for an unknown, revoked, expired link or one whose gallery or board is gone; for one whose password this session has not given,
    `when_locked(link)`, by default a redirect to the link's page, which asks for it."""
    link = find_link(token)
    if link is None or not link.is_active:
        return None, gone(request, link)
    if not is_unlocked(request, link):
        return None, when_locked(link) if when_locked else redirect("shared", token)
    return link, None


@never_cache
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def shared(request, token):
    link, refused = open_link(request, token, when_locked=lambda link: private(password_page(request, link, token)))
    if refused:
        return refused
    link.record_view()
    if link.board_id:
        return private(shared_board(request, link, token))
    return private(shared_gallery(request, link, token))


def password_page(request, link, token):
    """Ask for the link's password; after a few wrong tries from one address, refuse for a while."""
    form = SharePasswordForm(request.POST or None)
    key = (str(link.pk), throttle.client_address(request))
    status = 200
    if throttle.SHARE_PASSWORD.blocked(*key):
        return password_locked(request, token)
    if request.method == "POST" and form.is_valid():
        if link.check_password(form.cleaned_data["password"]):
            throttle.SHARE_PASSWORD.reset(*key)
            request.session.cycle_key()
            request.session[_session_key(link)] = link.password_fingerprint()
            return redirect("shared", token)
        if throttle.SHARE_PASSWORD.failed(*key):
            log.warning("share link %s: password tries locked for an address", link.pk)
            return password_locked(request, token)
        status = 403
        form.add_error("password", "That password is not right.")
    elif request.method == "POST":
        status = 400
    return render(request, "sharing/shared_password.html", {"form": form, "token": token}, status=status)


def password_locked(request, token):
    """The password page telling this address to wait (429 to GET and POST alike, until the lock runs out)."""
    locked_out = f"Too many wrong passwords. Wait {throttle.SHARE_PASSWORD.minutes} minutes and try again."
    context = {"form": SharePasswordForm(), "token": token, "locked_out": locked_out}
    return render(request, "sharing/shared_password.html", context, status=429)


def page_context(link, token, **more):
    """What a share page and the tiles it shares with the studio read: the link, its token (tiles then
    use share-scoped media URLs), whether parameters are hidden, and what the link grants, which
    sharing/shared_base.html makes the `may` of the shared content: downloads at most, whoever opens
    it, so a signed-in teammate sees there what a visitor sees."""
    link_may = dict.fromkeys(PERMISSIONS, False) | {"download": link.allow_download}
    return {"link": link, "share_token": token, "hide_parameters": not link.show_parameters, "link_may": link_may, **more}


def shared_gallery(request, link, token):
    source = link.source
    jobs = Variation.objects.with_outputs().filter(source=source, status=Status.COMPLETED).order_by("-created_at")
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    picking = getattr(link, "pick_rules", None)  # visitors pick on links that ask for it
    return render(request, "sharing/shared_gallery.html", page_context(link, token, source=source, page=page, picking=picking))


def shared_board(request, link, token):
    collect_arrivals(link.board)  # a next-round board shared at once fills as its jobs finish
    items = list(board_items(link.board))
    picking = getattr(link, "pick_rules", None)
    context = page_context(link, token, board=link.board, items=items, picking=picking)
    return render(request, "sharing/shared_board.html", context)
