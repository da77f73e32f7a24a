"""Exporting and pruning whole galleries (a source with every job run on it), for backups and clean-ups.

A gallery is the unit: its zip (write_gallery_archive) holds the source, every output and
the parameters of each, so an exported gallery can be understood, and its images reproduced, alone.
An export (export_gallery) also carries the restore manifest that brings it back (services/restore.py).
"""

import csv
import io
import json
import shutil
import zipfile
from datetime import timedelta

from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

import wavespeed_api as wavespeed

from .. import images, metadata
from . import restore
from ..models import ACTIVE_STATUSES, Output, Source, Variation


def galleries_unused_for(days, include_starred=False):
    """Sources whose gallery has seen no upload and no new job for `days` days, and no job still running.

    Galleries with a starred output are kept unless `include_starred`. Boards (issue 5) select
    galleries the same way: filter this queryset by board beside the age.
    """
    cutoff = timezone.now() - timedelta(days=days)
    last_used = Greatest("created_at", Coalesce(Max("variations__created_at"), "created_at"))
    galleries = (
        Source.objects.annotate(last_used=last_used)
        .filter(last_used__lt=cutoff)
        .exclude(Exists(Variation.objects.filter(source=OuterRef("pk"), status__in=ACTIVE_STATUSES)))
    )
    if not include_starred:
        galleries = galleries.exclude(Exists(Output.objects.filter(variation__source=OuterRef("pk"), starred=True)))
    return galleries.order_by("created_at")


def export_name(source):
    return f"gallery-{source.created_at:%Y%m%d}-{source.sha256[:12]}.zip"


def export_gallery(source, folder):
    """Write the gallery's zip into `folder` (a pathlib.Path), with the restore manifest that
    `manage.py archive import` reads back; returns its path. Written whole or not at all."""
    target = folder / export_name(source)
    partial = target.with_suffix(".zip.partial")
    with open(partial, "wb") as fileobj:
        write_gallery_archive(source, fileobj)
    members = {source.image.name: source_member(source)}
    outputs = Output.objects.filter(variation__source=source).select_related("variation")
    members.update((output.image.name, output_member(output)) for output in outputs)
    with zipfile.ZipFile(partial, "a") as archive:
        stored = set(archive.namelist())
        names = {name: member for name, member in members.items() if member in stored}
        archive.writestr(restore.MANIFEST, restore.manifest_json(source, names), zipfile.ZIP_DEFLATED)
    partial.replace(target)
    return target


def source_member(source):
    """The source's file name inside a gallery zip."""
    return f"source-{source.sha256[:12]}.{source.extension}"


def output_member(output):
    """An output's file name inside a gallery zip."""
    job = output.variation
    return f"outputs/{job.created_at:%Y%m%d-%H%M%S}-{job.pk.hex[:8]}-{output.index}.{output.extension}"


ARCHIVE_COLUMNS = [
    "file", "job", "output_index", "model", "seed", "size", "num_inference_steps", "guidance_scale",
    "num_images", "enable_safety_checker", "output_format", "width", "height", "nsfw", "starred",
    "source_sha256", "run_by", "created_at", "inference_ms",
]


def write_gallery_archive(source: Source, fileobj, with_parameters=True, leaves_team=False):
    """Write a zip of a source gallery to `fileobj`: the source and every stored output (see write_archive;
    its parameters.json names the one source under "source")."""
    outputs = (
        Output.objects.filter(variation__source=source)
        .select_related("variation__owner", "variation__source")
        .order_by("variation__created_at", "index")
    )
    write_archive(fileobj, [source], outputs, with_parameters, leaves_team, gallery=True)


def write_archive(fileobj, sources, outputs, with_parameters=True, leaves_team=False, gallery=False):
    """Write a zip of any sources and outputs to `fileobj` (a gallery, a board, a selection), with the
    parameters of every output as parameters.json and parameters.csv (one row per output file).
    `outputs` need their variation's owner and source at hand (select_related).
    With `with_parameters=False` (share links that hide parameters) both files are left out and the
    parameters embedded in each output file are taken out of the copies. With `leaves_team` (a share
    link's zip) every image is a copy without location, serials and owner names (variations.metadata).

    Images are stored uncompressed (they are compressed already); a file missing from storage
    is listed under "missing" in the JSON instead of failing the whole download.
    """
    rows, missing, listed = [], [], []
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED) as archive:
        for source in sources:
            name = source_member(source)
            if not _add_stored_file(archive, source.image, name, metadata.scrub if leaves_team else None):
                missing.append(name)
            listed.append({"file": name, "sha256": source.sha256, "width": source.width, "height": source.height})
        for output in outputs:
            job = output.variation
            name = output_member(output)
            if not _add_stored_file(archive, output.image, name, _output_copy(with_parameters, leaves_team)):
                missing.append(name)
                continue
            rows.append({
                "file": name, "job": str(job.pk), "output_index": output.index, "model": wavespeed.MODEL_ID,
                **job.params(),
                "width": output.width, "height": output.height, "nsfw": output.nsfw, "starred": output.starred,
                "source_sha256": job.source.sha256, "run_by": job.owner.get_username() if job.owner else "",
                "created_at": job.created_at.isoformat(), "inference_ms": job.inference_ms,
            })
        if not with_parameters:
            return
        summary = {"source": listed[0]} if gallery else {"sources": listed}
        summary.update(outputs=rows, missing=missing)
        archive.writestr("parameters.json", json.dumps(summary, indent=2), zipfile.ZIP_DEFLATED)
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=ARCHIVE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("parameters.csv", table.getvalue(), zipfile.ZIP_DEFLATED)


def _output_copy(with_parameters, leaves_team):
    """How an output goes into the zip: as stored, without its parameters, or as a share link sends it."""
    if leaves_team:
        return lambda data: metadata.copy_for_link(data, with_parameters)
    return None if with_parameters else images.strip_parameters


def _add_stored_file(archive, field, name, change=None):
    """Copy a stored file into the archive, or `change(bytes)` of it (read whole). False if the file is
    missing, or `change` can make no copy of it."""
    try:
        with field.open("rb") as src:
            if change is None:
                with archive.open(name, "w") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                return True
            data = change(src.read())
    except FileNotFoundError:
        return False
    if data is None:
        return False
    archive.writestr(name, data)
    return True
