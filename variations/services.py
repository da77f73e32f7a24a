"""Operations that both the pages and the JSON API call: validation and side effects live here once."""

import hashlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from . import images
from .models import Output, Source, Status, Variation
from .params import VariationParams, validate


class UploadRejected(ValueError):
    """An upload this app will not keep; the message is for the person who sent it."""


def read_upload(uploaded_file):
    """The bytes of an uploaded file, refusing one over the size limit before reading it whole."""
    limit = settings.FLUXSITE_MAX_UPLOAD_BYTES
    if uploaded_file.size is not None and uploaded_file.size > limit:
        raise UploadRejected(f"The file is {uploaded_file.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB.")
    data = uploaded_file.read(limit + 1)
    if len(data) > limit:
        raise UploadRejected(f"The file is larger than the {limit / 1e6:.0f} MB limit.")
    return data


def store_source(data, user=None, derived_from=None):
    """Keep an image as a Source. Identical bytes give the existing source: returns (source, created).

    Files are written before the row, so a row never points at a missing file; a failure in
    between leaves at most an orphan file, never a half-made source.
    """
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


def enqueue_dispatch():
    """Wake the dispatcher once the current transaction commits (the notes: never inside one)."""
    from .dispatcher import wake_dispatcher

    transaction.on_commit(wake_dispatcher)


def create_variation(source, params: VariationParams, owner, rerun_of=None):
    """Queue a Variation job. The seed is drawn here, before submitting, so the job can be reproduced."""
    with transaction.atomic():
        job = Variation.objects.create(source=source, owner=owner, rerun_of=rerun_of, **params.resolved())
        enqueue_dispatch()
    return job


def rerun(job, overrides, owner):
    """A new job with `job`'s parameters, changed by `overrides`; without a seed override, a new seed.

    Returns (new job, None) or (None, {field: [message]}).
    """
    values = {**job.params(), "seed": None, **overrides}
    params, errors = validate(values)
    if errors:
        return None, errors
    return create_variation(job.source, params, owner, rerun_of=job), None


def cancel(job):
    """Cancel a queued or running job; True if it is now cancelled."""
    cancelled = job.cancel()
    if cancelled and job.delete_pending:
        enqueue_dispatch()
    return cancelled


def retry(job, owner):
    """Run a failed or cancelled job again with exactly its parameters (seed included)."""
    if job.status not in (Status.FAILED, Status.CANCELLED):
        return None
    params = VariationParams.model_validate(job.params())
    return create_variation(job.source, params, owner, rerun_of=job)


def vary_output(output: Output, user):
    """Make an output a new source of its own, linked back to where it came from."""
    with output.image.open("rb") as fh:
        data = fh.read()
    source, _ = store_source(data, user=user, derived_from=output)
    return source
