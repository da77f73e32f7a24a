"""Boards, and share links that show a source gallery or a board read-only to anyone holding an unguessable link.

Boards are named collections of sources and chosen outputs, like albums, kept by the team.


The token is 192 bits: HMAC-SHA256, under a key derived from SECRET_KEY, of a 256-bit nonce from
`secrets`. The row keeps the nonce and the SHA-256 of the token (links are found by that hash), never
the token itself: a copied database or backup alone gives no working link, yet the app can show a
link again on the Shared links page (to members and admins) by deriving it anew. After SECRET_KEY
changes, links keep working (lookups use the hash) and the page can derive them again while the old
key stays in SECRET_KEY_FALLBACKS; without it, it says the link can no longer be shown.
"""

import base64
import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Count, F, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.functional import cached_property

from team.models import allows, may_delete_work_of
from variations.models import Output, Source

from .options import ShareOptions
from .picking import BoardFeed, Pick, PickRules, PickVisitor  # noqa: F401 (models of their own module)

log = logging.getLogger(__name__)

TOKEN_CHARS = 32  # base64url characters: 192 bits


class Board(models.Model):
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="boards")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The cover someone chose; without one (or once it leaves the board) the first item is the cover.
    chosen_cover = models.ForeignKey("BoardItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.name

    def deletable_by(self, user):
        return may_delete_work_of(user, self.created_by_id)

    def touch(self):
        Board.objects.filter(pk=self.pk).update(updated_at=timezone.now())

    def rename(self, name):
        self.name, self.updated_at = name, timezone.now()
        self.save(update_fields=["name", "updated_at"])

    def choose_cover(self, item):
        """Make one of the board's items its cover; None goes back to the first item."""
        if item is not None and item.board_id != self.pk:
            raise ValueError("the cover is one of the board's own items")
        self.chosen_cover = item
        self.save(update_fields=["chosen_cover"])
        self.__dict__.pop("cover", None)

    @cached_property
    def cover(self):
        """The item whose thumbnail stands for the board: the chosen one, else the first."""
        return self.chosen_cover or board_items(self).first()

    def addable_by(self, user):
        """Anyone who curates adds to a board, unless a live share link publishes it: then only its owner
        and admins, so nothing goes out through a link without the owner knowing (docs/team-and-sharing.md)."""
        if not allows(user, "curate"):
            return False
        return may_delete_work_of(user, self.created_by_id) or not live_links().filter(board=self).exists()

    def add(self, thing, user):
        """Put a source or an output on the board; adding it twice changes nothing. True if it was new."""
        return self.add_many([thing], user) == 1

    def add_many(self, things, user):
        """Put sources and outputs on the board after its last item, in the order given; those already on it
        stay where they are. Returns how many were new."""
        held = set(self.items.values_list("source_id", "output_id"))
        last = self.items.aggregate(last=Max("position"))["last"]
        position = -1 if last is None else last
        new = []
        for thing in things:
            fields = BoardItem.target_fields(thing)
            key = (thing.pk, None) if "source" in fields else (None, thing.pk)
            if key in held:
                continue
            held.add(key)
            position += 1
            new.append(BoardItem(board=self, added_by=user, position=position, **fields))
        if not new:
            return 0
        before = len(held) - len(new)
        BoardItem.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent add of the same item wins
        self.touch()
        return self.items.count() - before

    def remove(self, thing):
        return self.remove_many([thing]) == 1

    def remove_many(self, things):
        """Take sources and outputs off the board; returns how many were on it."""
        sources = [thing.pk for thing in things if isinstance(thing, Source)]
        outputs = [thing.pk for thing in things if isinstance(thing, Output)]
        removed, _ = self.items.filter(models.Q(source__in=sources) | models.Q(output__in=outputs)).delete()
        if removed:
            self.touch()
        return removed

    def reorder(self, item_ids):
        """Put the given items first, in that order; the others follow as they were. Unknown ids are ignored."""
        current = list(self.items.order_by("position", "id").values_list("pk", flat=True))
        on_board = set(current)
        wanted = list(dict.fromkeys(pk for pk in item_ids if pk in on_board))
        order = wanted + [pk for pk in current if pk not in set(wanted)]
        items = [BoardItem(pk=pk, position=position) for position, pk in enumerate(order)]
        BoardItem.objects.bulk_update(items, ["position"])
        self.touch()


class BoardItem(models.Model):
    """One source or one output on a board (exactly one of the two)."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="items")
    # Named so the library can filter sources by board without importing this app.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.CASCADE, related_name="board_items")
    output = models.ForeignKey(Output, null=True, blank=True, on_delete=models.CASCADE, related_name="board_items")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    position = models.PositiveIntegerField(default=0)  # the board's order, set by reorder; new items go last

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__isnull=False, output__isnull=True)
                | models.Q(source__isnull=True, output__isnull=False),
                name="board_item_is_a_source_or_an_output",
            ),
            models.UniqueConstraint(fields=["board", "source"], name="source_once_per_board"),
            models.UniqueConstraint(fields=["board", "output"], name="output_once_per_board"),
        ]

    @property
    def target(self):
        return self.source or self.output

    @staticmethod
    def target_fields(thing):
        if isinstance(thing, Source):
            return {"source": thing}
        if isinstance(thing, Output):
            return {"output": thing}
        raise TypeError(f"a board holds sources and outputs, not {type(thing).__name__}")


def board_items(board):
    """The board's items with what their tiles show, in a fixed number of queries."""
    return board.items.select_related("source", "output__variation__source", "output__variation__owner", "added_by")


def board_contents(board):
    """(sources, outputs) on the board, in its order: what its zip holds."""
    items = list(board_items(board))
    return [item.source for item in items if item.source_id], [item.output for item in items if item.output_id]


def boards_overview(boards=None):
    """Boards, last changed first, each with `item_count` and `cover` (a BoardItem or None), in three queries."""
    first_item = BoardItem.objects.filter(board=OuterRef("pk")).order_by("position", "id").values("pk")[:1]
    boards = list(
        (boards if boards is not None else Board.objects.all())
        .select_related("created_by")
        .annotate(item_count=Count("items"), cover_id=Coalesce("chosen_cover_id", Subquery(first_item)))
        .order_by("-updated_at")  # Meta.ordering does not apply to a query with an aggregate
    )
    covers = BoardItem.objects.select_related("source", "output__variation__source").in_bulk(
        [board.cover_id for board in boards if board.cover_id]
    )
    for board in boards:
        board.cover = covers.get(board.cover_id)  # fills the cached property: no query per board
    return boards


def boards_holding(thing):
    """Ids of the boards that hold this source or output (the board picker marks them)."""
    return set(BoardItem.objects.filter(**BoardItem.target_fields(thing)).values_list("board_id", flat=True))


def _derive(nonce, secret):
    mac = salted_hmac("fluxsite.sharing.ShareLink", nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_CHARS]


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class ShareLink(models.Model):
    """A link to a source gallery or a board (exactly one), with its options and its use."""

    # Deleting the gallery or board keeps the link (with neither): it then answers 410, not 404.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="share_links")
    board = models.ForeignKey(Board, null=True, blank=True, on_delete=models.SET_NULL, related_name="share_links")
    nonce = models.CharField(max_length=64)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="share_links")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)  # null: never
    password = models.CharField(max_length=256, blank=True)  # Django password hash; blank: none
    allow_download = models.BooleanField(default=False)
    show_parameters = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    last_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__isnull=True) | models.Q(board__isnull=True),
                name="share_link_is_for_a_source_or_a_board_at_most",
            )
        ]

    def __str__(self):
        return f"share link {self.pk} for {self.target_label}"

    @property
    def target(self):
        return self.source or self.board

    def deletable_by(self, user):
        return may_delete_work_of(user, self.created_by_id)

    @property
    def target_label(self):
        if self.board_id:
            return f"Board “{self.board.name}”"
        return f"Gallery “{self.source.title}”" if self.source_id else "A deleted gallery or board"

    @property
    def has_password(self):
        return bool(self.password)

    @property
    def state(self):
        """active, revoked, gone (its gallery or board was deleted), inactive (its maker was deactivated or
        removed: a link lives only as long as its maker's access, unless an admin hands it to someone else)
        or expired."""
        if self.revoked_at:
            return "revoked"
        if self.source_id is None and self.board_id is None:
            return "gone"
        if self.created_by is None or not self.created_by.is_active:
            return "inactive"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def is_active(self):
        return self.state == "active"

    def token(self):
        """The link's token, derived anew; None if SECRET_KEY changed and the old key is gone."""
        for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
            token = _derive(self.nonce, secret)
            if constant_time_compare(token_digest(token), self.digest):
                return token
        return None

    def url(self, request=None):
        """The absolute link: FLUXSITE_PUBLIC_URL when set, else the address the request came to."""
        token = self.token()
        if token is None:
            return None
        path = reverse("shared", args=[token])
        if settings.FLUXSITE_PUBLIC_URL:
            return settings.FLUXSITE_PUBLIC_URL + path
        return request.build_absolute_uri(path) if request else path

    def apply(self, options: ShareOptions, keep_password=False, keep_expiry=False):
        """Set the options (not saved). When editing, `keep_password` leaves the password as it is unless a
        new one is given, and `keep_expiry` leaves the expiry alone."""
        if not keep_expiry:
            self.expires_at = (
                timezone.now() + timedelta(days=options.expires_in_days) if options.expires_in_days else None
            )
        if options.password:
            self.password = make_password(options.password)
        elif not keep_password:
            self.password = ""
        self.allow_download = options.allow_download
        self.show_parameters = options.show_parameters

    def check_password(self, password):
        return bool(self.password) and check_password(password, self.password)

    def password_fingerprint(self):
        """Changes whenever the password does, so a new password locks out those who knew the old one."""
        return hashlib.sha256(self.password.encode()).hexdigest()[:16]

    def record_view(self):
        now = timezone.now()
        ShareLink.objects.filter(pk=self.pk).update(view_count=F("view_count") + 1, last_viewed_at=now)
        self.view_count += 1
        self.last_viewed_at = now

    def revoke(self):
        """Turn the link off for good; True if it was on until now."""
        revoked = ShareLink.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.refresh_from_db(fields=["revoked_at"])
        return bool(revoked)

    # --- what the link grants: exactly the files of its gallery or board ------------------------------

    def grants_source(self, source_id):
        if self.source_id:
            return self.source_id == source_id
        return self.board.items.filter(source_id=source_id).exists()

    def grants_output(self, output_id):
        if self.source_id:
            return Output.objects.filter(pk=output_id, variation__source_id=self.source_id).exists()
        return self.board.items.filter(output_id=output_id).exists()


def create_link(target, options: ShareOptions, user):
    """Make a link for a Source or a Board; returns (ShareLink, its token)."""
    if not isinstance(target, (Source, Board)):
        raise TypeError("a share link is for a source gallery or a board")
    nonce = secrets.token_hex(32)
    token = _derive(nonce, settings.SECRET_KEY)
    link = ShareLink(nonce=nonce, digest=token_digest(token), created_by=user)
    if isinstance(target, Source):
        link.source = target
    else:
        link.board = target
    link.apply(options)
    link.save()
    log.info("share link %s made by %s for %s (expires %s)", link.pk, user, link.target_label, link.expires_at or "never")
    return link, token


def find_link(token):
    """The link for a token as sent in a URL, or None. Links that no longer work are found too (they answer 410)."""
    if not token or len(token) != TOKEN_CHARS:
        return None
    return ShareLink.objects.select_related("source", "board", "created_by").filter(digest=token_digest(token)).first()


PUBLISHED_BOARD = "A live share link publishes this board: only its owner or an admin may add to it."


def live_links():
    """The links that work right now (state "active"), as a query."""
    return ShareLink.objects.filter(revoked_at__isnull=True, created_by__is_active=True).exclude(expires_at__lte=timezone.now())


def links_visible_to(user):
    """The links a person sees and may copy: admins every link of the team, members their own."""
    links = ShareLink.objects.select_related("source", "board", "created_by")
    return links if allows(user, "manage") else links.filter(created_by=user)


def hand_over_links(from_user, to_user):
    """Make `to_user` the maker of every link `from_user` made, so they keep working when `from_user`
    is deactivated; returns how many."""
    return ShareLink.objects.filter(created_by=from_user).update(created_by=to_user)
