"""Sources: uploads within the limits, identical bytes kept once, derived sources, deletes with their files."""

import hashlib
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from .. import images, metadata
from ..models import ACTIVE_STATUSES, Output, Source
from ..params import TITLE_MAX

UNTITLED = "Untitled"


class UploadRejected(ValueError):
    """An upload this app will not keep; the message is for the person who sent it."""


def size_text(byte_count):
    """A size as a person reads it: 20 MB, 4.9 KB, 300 bytes."""
    for unit, size in (("MB", 2**20), ("KB", 2**10)):
        if byte_count >= size:
            return f"{byte_count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{byte_count} bytes"


def read_upload(uploaded_file):
    """The bytes of an uploaded file, refusing one over the size limit before reading it whole."""
    limit = settings.FLUXSITE_MAX_UPLOAD_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise UploadRejected(f"The file is {size_text(uploaded_file.size)}, over the {size_text(limit)} limit.")
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise UploadRejected(f"The file is larger than the {size_text(limit)} limit.")
    return data


def title_from_filename(filename):
    """A new source's title: the uploaded file's name without its folder and extension."""
    stem = PurePath(filename or "").stem.strip()
    return stem[:TITLE_MAX] or UNTITLED


def derived_title(output):
    """What a source made from an output is called, e.g. "Variation 2 of Beach"."""
    return f"Variation {output.index + 1} of {output.variation.source.title}"[:TITLE_MAX]


def store_source(data, user=None, derived_from=None, filename=""):
    """Keep an image as a Source. Identical bytes give the existing source: returns (source, created).

    The title comes from what it was derived from, else from the uploaded file's name.

    Files are written before the row, so a row never points at a missing file; a failure in
    between leaves at most an orphan file, never a half-made source.
    """
    if settings.FLUXSITE_STRIP_METADATA_ON_UPLOAD:  # an admin's choice: no location or owner even in the team
        data = metadata.scrub(data)
        if data is None:
            raise UploadRejected("The image is damaged and cannot be read.")
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Source.objects.filter(sha256=sha256).first()
    if existing:
        return existing, False
    try:
        info = images.inspect(data)
    except images.ImageRejected as exc:
        raise UploadRejected(str(exc)) from None
    source = Source(
        sha256=sha256,
        title=derived_title(derived_from) if derived_from else title_from_filename(filename),
        width=info.width,
        height=info.height,
        format=info.format,
        byte_size=len(data),
        uploaded_by=user,
        derived_from=derived_from,
    )
    source.image.save("source", ContentFile(data), save=False)
    source.thumbnail.save("thumbnail", ContentFile(info.thumbnail), save=False)
    try:
        with transaction.atomic():
            source.save(force_insert=True)
    except IntegrityError:
        # The same bytes were stored by a concurrent upload: theirs is the source (same file names).
        return Source.objects.get(sha256=sha256), False
    return source, True


def vary_output(output: Output, user):
    """Make an output a new source of its own, linked back to where it came from."""
    with output.image.open("rb") as fh:
        data = fh.read()
    source, _ = store_source(data, user=user, derived_from=output)
    return source


def rename_source(source, title):
    """Give a source a new title (already validated). Only that column is written."""
    source.title = title
    source.save(update_fields=["title"])


def delete_files_on_commit(fields):
    """Remove stored files once the rows are gone for good (a rolled-back delete keeps its files)."""
    names = [(field.storage, field.name) for field in fields if field.name]

    def remove():
        for storage, name in names:
            storage.delete(name)

    transaction.on_commit(remove)
    return len(names)


def delete_source(source):
    """Delete a source with every job and output of it, then their files once the rows are gone.

    Returns how many files go, or None (nothing deleted) while one of its jobs runs.
    """
    with transaction.atomic():
        if source.variations.filter(status__in=ACTIVE_STATUSES).exists():
            return None
        outputs = list(Output.objects.filter(variation__source=source))
        source.delete()
        fields = [source.image, source.thumbnail] + [f for output in outputs for f in (output.image, output.thumbnail)]
        return delete_files_on_commit(fields)
