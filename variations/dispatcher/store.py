"""Copying a finished prediction's outputs into the app's own storage (WaveSpeed deletes its copies after 7 days).

Runs in the dispatcher's pool threads: it downloads, checks and writes files, and touches no database row.
"""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

import wavespeed_api as wavespeed

from .. import images, metadata
from ..models import Output, output_path, output_thumbnail_path


def fetch_outputs(client, job, stored_indexes):
    """Download each output not yet stored, check it, write it and its thumbnail.

    Returns (unsaved Output rows, errors). A job is complete only when errors is empty.
    """
    stored, errors = [], []
    nsfw = list(job.remote_nsfw) + [False] * len(job.remote_output_urls)
    for index, url in enumerate(job.remote_output_urls):
        if index in stored_indexes:
            continue
        try:
            data = client.download(url)
            width, height, image_format, thumbnail = images.output_info(data, job.output_format)
        except (wavespeed.WaveSpeedError, images.ImageRejected) as exc:
            errors.append(f"output {index}: {exc}")
            continue
        # Outputs leave the team (downloads, links): nothing the source's EXIF held may ride along.
        data = metadata.scrub(data)
        if data is None:
            errors.append(f"output {index}: unreadable metadata")
            continue
        data = images.embed_parameters(data, image_format, embedded_parameters(job, index))
        output = Output(
            variation=job, index=index, width=width, height=height, format=image_format,
            byte_size=len(data), nsfw=nsfw[index],
        )
        output.image.name = replace_file(output_path(output, ""), data)
        output.thumbnail.name = replace_file(output_thumbnail_path(output, ""), thumbnail)
        stored.append(output)
    return stored, errors


def embedded_parameters(job, index):
    """What each output file carries about how it was made, so a copy saved anywhere still tells."""
    return {
        "model": wavespeed.MODEL_ID,
        "job": str(job.pk),
        "output_index": index,
        "source_sha256": job.source.sha256,
        **job.params(),
    }


def replace_file(name, data):
    """Write `name` afresh (a worker that died mid-store may have left a partial file there)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))
