"""Copying a finished prediction's outputs into the app's own storage (WaveSpeed deletes its copies after 7 days).

fetch_outputs runs in the dispatcher's pool threads: it downloads, checks and writes files, and touches
no database row. The store stage records what it stored on the loop's thread.
"""

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

import wavespeed_api as wavespeed

from .. import images, metadata
from ..models import Output, Status, Variation, output_path, output_thumbnail_path
from .outcomes import Answer, Stage, apply

log = logging.getLogger(__name__)


class Stores:
    """The store stage of one dispatcher: jobs whose outputs wait to be copied, and what came of it."""

    def __init__(self, loop):
        self.loop = loop

    def store_finished(self, followed):
        """Copy the outputs of finished predictions whose time has come (`followed`: the pass's look)."""
        now = timezone.now()
        if not any(job.status == Status.STORING and job.next_poll_at is not None and job.next_poll_at <= now
                   and job.pk not in self.loop.busy for job in followed):
            return
        ready = Variation.objects.filter(status=Status.STORING, next_poll_at__lte=now)
        ready = ready.exclude(pk__in=self.loop.busy).select_related("source").prefetch_related("outputs")
        for job in ready[: self.loop.threads]:
            self.loop.launch(self.fetch, self.on_stored, job, {o.index for o in job.outputs.all()})

    def fetch(self, job, stored_indexes):
        return fetch_outputs(self.loop.client(), job, stored_indexes)

    def on_stored(self, job, future):
        try:
            stored, errors = future.result()
        except Exception as exc:  # storage full or unreachable: retry like a failed download
            log.exception("storing outputs of job %s failed", job.pk)
            stored, errors = [], [str(exc)]
        Output.objects.bulk_create(stored, ignore_conflicts=True)
        answer = Answer.NOT_STORED if errors else Answer.STORED
        apply(job, Stage.STORE, answer, download_attempts=job.download_attempts + 1, message="; ".join(errors))


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
