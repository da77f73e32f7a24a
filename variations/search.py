"""Finding sources and jobs: the library's filters, validated once for the page and the API, and the text search.

Titles are searched by the database's own index, never by a scan in Python: on SQLite an FTS5 table
with the trigram tokenizer, on PostgreSQL a pg_trgm GIN index under `UPPER(title) LIKE` (what Django's
`icontains` sends). Both match any part of a word, case aside, as a person typing a fragment expects.
A word of one or two letters has no trigram, so it is matched by `icontains` alone.
"""

import logging
import re
from datetime import date
from typing import Literal

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .models import PUBLIC_STATUS, PUBLIC_TO_INTERNAL, Output, Source, Variation
from .params import SEED_MAX, errors_by_field

log = logging.getLogger(__name__)

QUERY_MAX = 200
ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TRIGRAM = 3  # the shortest word a trigram index can find
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "most": "Most variations",
    "recent": "Recently varied",
}
STATUSES = tuple(sorted(set(PUBLIC_STATUS.values())))
PublicStatus = Literal[STATUSES]


class LibraryFilters(BaseModel):
    """What the library (page and `GET /api/v1/sources`) may be narrowed and ordered by; all optional."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    q: str = Field("", max_length=QUERY_MAX, description="Words in the title (every word must match), or a seed")
    starred: bool | None = Field(None, description="true: sources with a starred output; false: without")
    board: int | None = Field(None, ge=1, description="Sources on this board, or with an output on it")
    person: str | None = Field(None, max_length=150, description="Uploaded by this username")
    date_from: date | None = Field(None, description="Uploaded on or after this day")
    date_to: date | None = Field(None, description="Uploaded on or before this day")
    varied: bool | None = Field(None, description="true: sources with at least one job; false: none yet")
    status: PublicStatus | None = Field(None, description="Status of the source's latest job")
    sort: Literal[tuple(SORTS)] = Field("newest", description="newest | oldest | most (outputs) | recent (latest job)")

    @field_validator("q", "person", mode="before")
    @classmethod
    def _without_nul(cls, value):
        """NUL is in no title or name, and neither SQLite's FTS nor PostgreSQL accepts it in a string."""
        return value.replace("\x00", "") if isinstance(value, str) else value

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _iso_day(cls, value):
        """Only a day as the schema says (2026-01-31): pydantic alone would read "0" as a Unix time."""
        if isinstance(value, str) and not ISO_DAY.fullmatch(value):
            raise ValueError("a day is written like 2026-01-31")
        return value

    @model_validator(mode="after")
    def _dates_in_order(self):
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("the end date is before the start date")
        return self

    @property
    def active(self):
        """Is anything narrowed (the sort aside)?"""
        return any(value not in (None, "") for name, value in self if name != "sort")


def read_filters(query_dict):
    """The library's filters from a query string: (LibraryFilters, {field: [message]}).

    Empty fields (a form's "Any" choice) are left out; an invalid field is dropped and reported,
    the others still apply, so a bad link shows a page with the message rather than nothing.
    """
    sent = {name: query_dict.get(name) for name in LibraryFilters.model_fields if query_dict.get(name, "").strip()}
    errors = {}
    while True:
        try:
            return LibraryFilters.model_validate(sent), errors
        except ValidationError as exc:
            found = errors_by_field(exc.errors())
            # A message on no field is the dates out of order: it shows by the end date, and both go.
            if "__all__" in found:
                found["date_to"] = found.pop("__all__")
                found.setdefault("date_from", [])
            errors.update({name: messages for name, messages in found.items() if messages})
            if not set(found) & set(sent):
                return LibraryFilters(), errors
            sent = {name: value for name, value in sent.items() if name not in found}


def _fts_phrase(word):
    return '"' + word.replace('"', '""') + '"'


def titles_matching(words):
    """A condition on Source: every word is in the title, found through the database's trigram index."""
    condition = Q()
    long_words = [word for word in words if len(word) >= TRIGRAM]
    for word in words:
        if len(word) < TRIGRAM or connection.vendor != "sqlite":
            condition &= Q(title__icontains=word)
    if long_words and connection.vendor == "sqlite":
        matches = RawSQL(
            "SELECT id FROM variations_source WHERE rowid IN "
            "(SELECT rowid FROM variations_source_title WHERE variations_source_title MATCH %s)",
            [" ".join(_fts_phrase(word) for word in long_words)],
        )
        condition &= Q(pk__in=matches)
    return condition


def seed_in(text):
    """The seed a search text names, if it is one (a whole number within the seed range), else None."""
    return int(text) if text.isdigit() and int(text) <= SEED_MAX else None


def sources_matching_text(text):
    """A condition on Source: its title holds every word, or one of its jobs has this seed."""
    condition = titles_matching(text.split())
    seed = seed_in(text)
    if seed is not None:
        condition |= Q(pk__in=Variation.objects.filter(seed=seed).values("source_id"))
    return condition


def jobs_matching_text(text):
    """A condition on Variation: its source's title holds every word, or its seed is the text."""
    condition = Q(source__in=Source.objects.filter(titles_matching(text.split())).values("pk"))
    seed = seed_in(text)
    if seed is not None:
        condition |= Q(seed=seed)
    return condition


def find_sources(filters: LibraryFilters, sources=None):
    """The sources the filters let through, in the order they ask for: one query, however many sources."""
    sources = Source.objects.all() if sources is None else sources
    jobs = Variation.objects.filter(source=OuterRef("pk"))
    if filters.q:
        sources = sources.filter(sources_matching_text(filters.q))
    if filters.starred is not None:
        starred = Exists(Output.objects.filter(variation__source=OuterRef("pk"), starred=True))
        sources = sources.filter(starred if filters.starred else ~starred)
    if filters.board:
        outputs_on_board = Output.objects.filter(variation__source=OuterRef("pk"), board_items__board=filters.board)
        on_board = Source.objects.filter(pk=OuterRef("pk"), board_items__board=filters.board)
        sources = sources.filter(Exists(on_board) | Exists(outputs_on_board))
    if filters.person:
        sources = sources.filter(uploaded_by__username=filters.person)
    if filters.date_from:
        sources = sources.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        sources = sources.filter(created_at__date__lte=filters.date_to)
    if filters.varied is not None:
        sources = sources.filter(Exists(jobs) if filters.varied else ~Exists(jobs))
    if filters.status:
        latest = Subquery(jobs.order_by("-created_at").values("status")[:1])
        sources = sources.annotate(latest_status=latest).filter(latest_status__in=PUBLIC_TO_INTERNAL[filters.status])
    return sources.order_by(*_ordering(filters.sort, jobs))


def _ordering(sort, jobs):
    if sort == "oldest":
        return ["created_at"]
    if sort == "most":
        outputs = Output.objects.filter(variation__source=OuterRef("pk")).order_by().values("variation__source")
        count = Subquery(outputs.annotate(n=Count("pk")).values("n"), output_field=IntegerField())
        return [Coalesce(count, Value(0)).desc(), "-created_at"]
    if sort == "recent":
        latest = Subquery(jobs.order_by("-created_at").values("created_at")[:1])
        return [latest.desc(nulls_last=True), "-created_at"]
    return ["-created_at"]


SQLITE_INDEX = [
    # External content: the index keeps only trigrams, the titles stay in variations_source.
    "CREATE VIRTUAL TABLE IF NOT EXISTS variations_source_title USING fts5("
    "title, content='variations_source', content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS variations_source_title_insert AFTER INSERT ON variations_source BEGIN "
    "INSERT INTO variations_source_title(rowid, title) VALUES (new.rowid, new.title); END",
    "CREATE TRIGGER IF NOT EXISTS variations_source_title_delete AFTER DELETE ON variations_source BEGIN "
    "INSERT INTO variations_source_title(variations_source_title, rowid, title) VALUES ('delete', old.rowid, old.title); END",
    "CREATE TRIGGER IF NOT EXISTS variations_source_title_update AFTER UPDATE OF title ON variations_source BEGIN "
    "INSERT INTO variations_source_title(variations_source_title, rowid, title) VALUES ('delete', old.rowid, old.title); "
    "INSERT INTO variations_source_title(rowid, title) VALUES (new.rowid, new.title); END",
    "INSERT INTO variations_source_title(variations_source_title) VALUES ('rebuild')",
]
POSTGRESQL_INDEX = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS variations_source_title_trgm ON variations_source "
    "USING gin (UPPER(title::text) gin_trgm_ops)",
]


def install_text_search(sender=None, using="default", **kwargs):
    """Create (or re-create) the title index after every `migrate` (a post_migrate receiver).

    Not a migration: SQLite rebuilds a table on many schema changes, dropping its triggers and renumbering
    its rowids, so the index is checked and rebuilt each time instead of made once. Without the right to
    create pg_trgm, PostgreSQL still searches, by a scan, and the log says why.
    """
    target = transaction.get_connection(using)
    statements = {"sqlite": SQLITE_INDEX, "postgresql": POSTGRESQL_INDEX}.get(target.vendor, [])
    try:
        with transaction.atomic(using=using), target.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    except DatabaseError as exc:
        log.warning("The title search index could not be made (%s); searches will scan the titles.", exc)
