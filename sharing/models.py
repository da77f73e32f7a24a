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
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from team.models import allows, may_delete_work_of
from variations.models import Output, Source
from variations.params import errors_by_field

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_DAYS = 30
MAX_EXPIRY_DAYS = 3650
PASSWORD_MIN, PASSWORD_MAX = 6, 128
TOKEN_CHARS = 32  # base64url characters: 192 bits


class ShareOptions(BaseModel):
    """What a person chooses for a link, validated here for the API and the pages alike.

    Least exposure by default: no download and no parameters unless asked for; expiry after 30 days
    unless `expires_in_days` is explicitly null ("never").
    """

    model_config = ConfigDict(extra="forbid")

    expires_in_days: int | None = Field(DEFAULT_EXPIRY_DAYS, ge=1, le=MAX_EXPIRY_DAYS, description="null: never expires")
    password: str | None = Field(None, description=f"optional, {PASSWORD_MIN}..{PASSWORD_MAX} characters")
    allow_download: bool = False
    show_parameters: bool = False

    @field_validator("password")
    @classmethod
    def _password_length(cls, value):
        if value in (None, ""):
            return None
        if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
            raise ValueError(f"a link password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
        return value


class Board(models.Model):
    name = models.CharField(max_length=120)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="boards")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self):
        return self.name

    def deletable_by(self, user):
        return may_delete_work_of(user, self.created_by_id)

    def touch(self):
        Board.objects.filter(pk=self.pk).update(updated_at=timezone.now())

    def add(self, thing, user):
        """Put a source or an output on the board; adding it twice changes nothing. True if it was new."""
        try:
            with transaction.atomic():
                BoardItem.objects.create(board=self, added_by=user, **BoardItem.target_fields(thing))
        except IntegrityError:
            return False
        self.touch()
        return True

    def remove(self, thing):
        removed, _ = self.items.filter(**BoardItem.target_fields(thing)).delete()
        if removed:
            self.touch()
        return bool(removed)


class BoardItem(models.Model):
    """One source or one output on a board (exactly one of the two)."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="items")
    # Named so the library can filter sources by board without importing this app.
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.CASCADE, related_name="board_items")
    output = models.ForeignKey(Output, null=True, blank=True, on_delete=models.CASCADE, related_name="board_items")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-added_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__isnull=False, output__isnull=True)
                | models.Q(source__isnull=True, output__isnull=False),
                name="board_item_is_a_source_or_an_output",
            ),
            models.UniqueConstraint(fields=["board", "source"], name="source_once_per_board"),
            models.UniqueConstraint(fields=["board", "output"], name="output_once_per_board"),
        ]

    @staticmethod
    def target_fields(thing):
        if isinstance(thing, Source):
            return {"source": thing}
        if isinstance(thing, Output):
            return {"output": thing}
        raise TypeError(f"a board holds sources and outputs, not {type(thing).__name__}")


def board_items(board):
    """The board's items with what their tiles show, in a fixed number of queries."""
    return board.items.select_related("source", "output__variation__source", "added_by")


def boards_holding(thing):
    """Ids of the boards that hold this source or output (the board picker marks them)."""
    return set(BoardItem.objects.filter(**BoardItem.target_fields(thing)).values_list("board_id", flat=True))


def validate_options(data):
    """Returns (ShareOptions, None) or (None, {field: [message]})."""
    try:
        return ShareOptions.model_validate(data), None
    except ValidationError as exc:
        return None, errors_by_field(exc.errors())


def _derive(nonce, secret):
    mac = salted_hmac("fluxsite.sharing.ShareLink", nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(mac).decode()[:TOKEN_CHARS]


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class ShareLink(models.Model):
    """A link to a source gallery or a board (exactly one), with its options and its use."""

    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links")
    board = models.ForeignKey(Board, null=True, blank=True, on_delete=models.CASCADE, related_name="share_links")
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
                condition=models.Q(source__isnull=False, board__isnull=True)
                | models.Q(source__isnull=True, board__isnull=False),
                name="share_link_is_for_a_source_or_a_board",
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
        return f"Board “{self.board.name}”" if self.board_id else "Source gallery"

    @property
    def has_password(self):
        return bool(self.password)

    @property
    def state(self):
        """active, revoked, inactive (its maker was deactivated or removed: a link lives only as long as
        its maker's access, unless an admin hands it to someone else) or expired."""
        if self.revoked_at:
            return "revoked"
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


def links_visible_to(user):
    """The links a person sees and may copy: admins every link of the team, members their own."""
    links = ShareLink.objects.select_related("source", "board", "created_by")
    return links if allows(user, "manage") else links.filter(created_by=user)


def hand_over_links(from_user, to_user):
    """Make `to_user` the maker of every link `from_user` made, so they keep working when `from_user`
    is deactivated; returns how many."""
    return ShareLink.objects.filter(created_by=from_user).update(created_by=to_user)
