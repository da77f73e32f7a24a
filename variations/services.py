"""Operations that both the pages and the JSON API call: validation and side effects live here once."""

import csv
import hashlib
import io
import json
import shutil
import zipfile

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from . import images, wavespeed
from .models import ACTIVE_STATUSES, Output, Source, Status, Variation
from .params import VariationParams, validate


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


def set_starred(output: Output, starred: bool):
    """Star or unstar an output. Only that column is written: the dispatcher may hold the row too."""
    output.starred = starred
    output.save(update_fields=["starred"])


def _delete_files_on_commit(fields):
    """Remove stored files once the rows are gone for good (a rolled-back delete keeps its files)."""
    names = [(field.storage, field.name) for field in fields if field.name]

    def remove():
        for storage, name in names:
            storage.delete(name)

    transaction.on_commit(remove)


def delete_job(job):
    """Delete a finished job and its output files; False (nothing deleted) while it is still on its way."""
    with transaction.atomic():
        if Variation.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).exists():
            return False
        outputs = list(job.outputs.all())
        job.delete()
        _delete_files_on_commit([f for output in outputs for f in (output.image, output.thumbnail)])
    return True


def delete_source(source):
    """Delete a source with every job and output of it; False (nothing deleted) while one of its jobs runs."""
    with transaction.atomic():
        if source.variations.filter(status__in=ACTIVE_STATUSES).exists():
            return False
        outputs = list(Output.objects.filter(variation__source=source))
        source.delete()
        fields = [source.image, source.thumbnail] + [f for output in outputs for f in (output.image, output.thumbnail)]
        _delete_files_on_commit(fields)
    return True


ARCHIVE_COLUMNS = [
    "file", "job", "output_index", "model", "seed", "size", "num_inference_steps", "guidance_scale",
    "num_images", "enable_safety_checker", "output_format", "width", "height", "nsfw", "starred",
    "source_sha256", "run_by", "created_at", "inference_ms",
]


def write_gallery_archive(source: Source, fileobj, with_parameters=True):
    """Write a zip of a source gallery to `fileobj`: the source, every stored output, and the
    parameters of every output as parameters.json and parameters.csv (one row per output file).
    With `with_parameters=False` (share links that hide parameters) both files are left out and the
    parameters embedded in each output file are taken out of the copies.

    Images are stored uncompressed (they are compressed already); a file missing from storage
    is listed under "missing" in the JSON instead of failing the whole download.
    """
    outputs = (
        Output.objects.filter(variation__source=source)
        .select_related("variation__owner")
        .order_by("variation__created_at", "index")
    )
    rows, missing = [], []
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED) as archive:
        source_name = f"source-{source.sha256[:12]}.{source.extension}"
        if not _add_stored_file(archive, source.image, source_name):
            missing.append(source_name)
        for output in outputs:
            job = output.variation
            name = f"outputs/{job.created_at:%Y%m%d-%H%M%S}-{job.pk.hex[:8]}-{output.index}.{output.extension}"
            if not _add_stored_file(archive, output.image, name, strip=not with_parameters):
                missing.append(name)
                continue
            rows.append({
                "file": name, "job": str(job.pk), "output_index": output.index, "model": wavespeed.MODEL_ID,
                **job.params(),
                "width": output.width, "height": output.height, "nsfw": output.nsfw, "starred": output.starred,
                "source_sha256": source.sha256, "run_by": job.owner.get_username() if job.owner else "",
                "created_at": job.created_at.isoformat(), "inference_ms": job.inference_ms,
            })
        if not with_parameters:
            return
        summary = {
            "source": {"file": source_name, "sha256": source.sha256, "width": source.width, "height": source.height},
            "outputs": rows,
            "missing": missing,
        }
        archive.writestr("parameters.json", json.dumps(summary, indent=2), zipfile.ZIP_DEFLATED)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=ARCHIVE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("parameters.csv", table.getvalue(), zipfile.ZIP_DEFLATED)


def _add_stored_file(archive, field, name, strip=False):
    """Copy a stored file into the archive; `strip`: without its embedded parameters (read whole, outputs are small)."""
    try:
        with field.open("rb") as src, archive.open(name, "w") as dst:
            if strip:
                dst.write(images.strip_parameters(src.read()))
            else:
                shutil.copyfileobj(src, dst, 1024 * 1024)
    except FileNotFoundError:
        return False
    return True
