"""Exporting and pruning whole galleries (a source with every job run on it), for backups and clean-ups.

A gallery is the unit: its zip (services.write_gallery_archive) holds the source, every output and
the parameters of each, so an exported gallery can be understood, and its images reproduced, alone.
"""

from datetime import timedelta

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from . import services
from .models import ACTIVE_STATUSES, Output, Source, Variation


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
    """Write the gallery's zip into `folder` (a pathlib.Path); returns its path. Written whole or not at all."""
    target = folder / export_name(source)
    partial = target.with_suffix(".zip.partial")
    with open(partial, "wb") as fileobj:
        services.write_gallery_archive(source, fileobj)
    partial.replace(target)
    return target


def delete_gallery(source):
    """Delete a source, its jobs and outputs, then their files. Returns how many files were deleted.

    Rows go first, in one transaction, so no row ever points at a missing file; a crash in between
    leaves only orphan files. A job started on the source meanwhile keeps the gallery.
    """
    outputs = list(Output.objects.filter(variation__source=source))
    names = [source.image.name, source.thumbnail.name]
    names += [name for output in outputs for name in (output.image.name, output.thumbnail.name)]
    with transaction.atomic():
        if Variation.objects.filter(source=source, status__in=ACTIVE_STATUSES).exists():
            return None
        Source.objects.filter(pk=source.pk).delete()
    deleted = 0
    for name in filter(None, names):
        if default_storage.exists(name):
            default_storage.delete(name)
            deleted += 1
    return deleted
