"""Visitor picks on share links: a visitor with the link (no account) marks outputs as picked, leaves a
short comment per image, signs with a name, and confirms the selection, which then stays locked until
the link's maker reopens it. From the picks, one click starts the next round (start_round; the whole
step is sharing/rounds.py) and a new board gathers its outputs as the jobs finish (collect_arrivals).

A visitor is known by a random key their browser keeps (localStorage) and sends with each pick; the row
keeps only its SHA-256. Everything a visitor writes is plain text, shown escaped, never as HTML.
Models of this module are registered through sharing.models (they refer to ShareLink and Board by name).
"""

import hashlib
from datetime import datetime
from uuid import UUID

from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from variations.models import Output, Status, Variation
from variations.params import PRESETS
from variations.services import jobs

COMMENT_MAX = 500
NAME_MAX = 80


class PickRulesIn(BaseModel):
    """What the link's maker chooses: picking on or off, at least / at most N picks, a deadline."""

    model_config = ConfigDict(extra="forbid")
    open: bool = True
    min_picks: int | None = Field(None, ge=1, le=1000)
    max_picks: int | None = Field(None, ge=1, le=1000)
    deadline: datetime | None = None

    @model_validator(mode="after")
    def _range(self):
        if self.min_picks and self.max_picks and self.min_picks > self.max_picks:
            raise ValueError("at least cannot be more than at most")
        return self


class PickIn(BaseModel):
    """One change a visitor makes to one output: pick or unpick it, and/or say something about it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    output: UUID
    picked: bool | None = None
    comment: str | None = Field(None, max_length=COMMENT_MAX)

    @field_validator("name", "comment")
    @classmethod
    def _plain(cls, value):
        return value if value is None else value.strip()


class PickRules(models.Model):
    """The picking a link allows (a link without this row lets nobody pick)."""

    link = models.OneToOneField("sharing.ShareLink", on_delete=models.CASCADE, related_name="pick_rules")
    open = models.BooleanField(default=True)  # the maker turns picking off (and on again) here
    min_picks = models.PositiveSmallIntegerField(null=True, blank=True)
    max_picks = models.PositiveSmallIntegerField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)  # when the maker last looked: newer picks count as news

    def accepting(self):
        return self.open and (self.deadline is None or timezone.now() < self.deadline)

    def apply(self, rules: PickRulesIn):
        self.open, self.min_picks, self.max_picks, self.deadline = rules.open, rules.min_picks, rules.max_picks, rules.deadline

    def count_problem(self, count):
        """Why `count` picks cannot be confirmed, or ''."""
        if self.min_picks and count < self.min_picks:
            return f"Pick at least {self.min_picks} (you have {count})."
        if self.max_picks and count > self.max_picks:
            return f"Pick at most {self.max_picks} (you have {count})."
        return ""


class PickVisitor(models.Model):
    """One visitor of one link, by the key their browser keeps; confirmed once they say they are done."""

    link = models.ForeignKey("sharing.ShareLink", on_delete=models.CASCADE, related_name="pick_visitors")
    key_digest = models.CharField(max_length=64)
    name = models.CharField(max_length=NAME_MAX)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["link", "key_digest"], name="one_visitor_per_key_and_link")]


class Pick(models.Model):
    """What one visitor says about one output: picked or not, and a comment (which the maker may hide)."""

    visitor = models.ForeignKey(PickVisitor, on_delete=models.CASCADE, related_name="picks")
    output = models.ForeignKey(Output, on_delete=models.CASCADE, related_name="picks")
    picked = models.BooleanField(default=False)
    comment = models.CharField(max_length=COMMENT_MAX, blank=True)
    comment_hidden = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["visitor_id", "output_id"]
        constraints = [models.UniqueConstraint(fields=["visitor", "output"], name="one_pick_per_visitor_and_output")]


class BoardFeed(models.Model):
    """A job whose outputs join a board as they arrive (the board of a "Vary the picks" round)."""

    board = models.ForeignKey("sharing.Board", on_delete=models.CASCADE, related_name="feeds")
    variation = models.ForeignKey(Variation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["board", "variation"], name="one_feed_per_board_and_job")]


def key_digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


class PickRefused(Exception):
    """Why a visitor's pick was not taken; `status` is the HTTP answer (400, 403 or 409)."""

    def __init__(self, text, status=409):
        super().__init__(text)
        self.status = status


def visitor_for(link, key, name=None):
    """The visitor of this link holding `key`; made (with `name`) on their first pick. None if unknown
    and no name was given."""
    digest = key_digest(key)
    visitor = link.pick_visitors.filter(key_digest=digest).first()
    if visitor is None and name:
        visitor, _ = PickVisitor.objects.get_or_create(link=link, key_digest=digest, defaults={"name": name})
    elif visitor is not None and name and visitor.name != name:
        visitor.name = name
        visitor.save(update_fields=["name"])
    return visitor


def picking_rules(link):
    """The link's PickRules if its visitors may pick now; else PickRefused."""
    rules = getattr(link, "pick_rules", None)
    if rules is None:
        raise PickRefused("This link does not ask for picks.", status=403)
    if not rules.accepting():
        raise PickRefused("Picking is closed for this link.")
    return rules


def record_pick(link, key, change: PickIn):
    """Apply one visitor's change; returns their Pick. The output must be one the link shares."""
    rules = picking_rules(link)
    output = Output.objects.filter(pk=change.output).first()
    if output is None or not link.grants_output(output.pk):
        raise PickRefused("This link does not share that image.", status=400)
    with transaction.atomic():
        visitor = visitor_for(link, key, change.name)
        visitor = PickVisitor.objects.select_for_update().get(pk=visitor.pk)
        if visitor.confirmed_at:
            raise PickRefused("Your selection is confirmed. Ask the people who shared this to reopen it.")
        pick, _ = Pick.objects.get_or_create(visitor=visitor, output=output)
        if change.picked is not None:
            if change.picked and not pick.picked and rules.max_picks and visitor.picks.filter(picked=True).count() >= rules.max_picks:
                raise PickRefused(f"You can pick at most {rules.max_picks}.")
            pick.picked = change.picked
        if change.comment is not None:
            pick.comment, pick.comment_hidden = change.comment, False
        pick.updated_at = timezone.now()
        pick.save()
    return pick


def confirm(link, key):
    """Lock the visitor's selection if it meets the link's at least / at most; returns the visitor."""
    rules = picking_rules(link)
    visitor = visitor_for(link, key)
    if visitor is None:
        raise PickRefused("Pick something first.", status=400)
    problem = rules.count_problem(visitor.picks.filter(picked=True).count())
    if problem:
        raise PickRefused(problem)
    PickVisitor.objects.filter(pk=visitor.pk, confirmed_at__isnull=True).update(confirmed_at=timezone.now())
    visitor.refresh_from_db()
    return visitor


def visitors_with_picks(link):
    """The link's visitors, each with `.picks_shown` (their picks and comments, with the outputs)."""
    visitors = list(link.pick_visitors.all())
    picks = Pick.objects.filter(visitor__link=link).select_related("output__variation__source").order_by("updated_at")
    by_visitor = {}
    for pick in picks:
        by_visitor.setdefault(pick.visitor_id, []).append(pick)
    for visitor in visitors:
        visitor.picks_shown = by_visitor.get(visitor.pk, [])
    return visitors


def picks_by_output(output_ids):
    """{output id: [Pick]} for the team's tiles: who picked or commented on each output, on any link."""
    found = {}
    picks = Pick.objects.filter(output_id__in=output_ids).filter(Q(picked=True) | ~Q(comment="")).select_related("visitor")
    for pick in picks:
        found.setdefault(pick.output_id, []).append(pick)
    return found


def unseen_count(user):
    """Picks and comments on this person's links that came after they last looked at the link."""
    news = Pick.objects.filter(visitor__link__created_by=user).filter(
        Q(visitor__link__pick_rules__seen_at__isnull=True) | Q(updated_at__gt=models.F("visitor__link__pick_rules__seen_at"))
    )
    return news.count()


def with_pick_counts(links):
    """Links with `pick_count` (outputs picked, by anyone) and `pick_news` (picks and comments since the
    maker last looked), for the Shared links page."""
    since = Q(pick_visitors__picks__updated_at__gt=models.F("pick_rules__seen_at")) | Q(pick_rules__seen_at__isnull=True)
    said = Q(pick_visitors__picks__picked=True) | ~Q(pick_visitors__picks__comment="")
    return links.annotate(
        pick_count=Count("pick_visitors__picks", filter=Q(pick_visitors__picks__picked=True)),
        pick_news=Count("pick_visitors__picks", filter=said & since),
    )


def picked_outputs(link):
    """Outputs picked by any visitor of the link, each once, in the order they were first picked."""
    picks = Pick.objects.filter(visitor__link=link, picked=True).select_related("output").order_by("updated_at")
    return list({pick.output_id: pick.output for pick in picks}.values())


def start_round(board, link, preset, person):
    """Start a job on every picked output of the link with a preset (each output becomes a derived
    source); `board` gathers their outputs as they finish (collect_arrivals). Returns the jobs started."""
    if preset not in PRESETS:
        raise PickRefused(f"Unknown preset {preset!r}.", status=400)
    outputs = picked_outputs(link)
    if not outputs:
        raise PickRefused("Nobody has picked anything yet.")
    started = [jobs.vary_with_preset(output, preset, person) for output in outputs]
    BoardFeed.objects.bulk_create([BoardFeed(board=board, variation=job) for job in started])
    return started


def collect_arrivals(board):
    """Put the finished outputs of the board's pending jobs on it; a job done (or ended) leaves the feed.
    Returns how many jobs are still on their way."""
    feeds = list(board.feeds.select_related("variation"))
    if not feeds:
        return 0
    ended = [feed for feed in feeds if feed.variation.status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)]
    outputs = Output.objects.filter(variation__in=[feed.variation_id for feed in ended]).order_by("variation__created_at", "index")
    board.add_many(list(outputs), board.created_by)
    BoardFeed.objects.filter(pk__in=[feed.pk for feed in ended]).delete()
    return len(feeds) - len(ended)
