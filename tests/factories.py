"""Plain helpers the tests share: images made on the spot, people with a role, clients acting as them,
and ready-made sources, jobs and outputs (real files in the test's private storage)."""

import io
import itertools
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from team.models import ApiToken, set_role
from variations.services import sources
from variations import dispatcher, images
from variations.models import DispatcherLease, Output, Status, Variation
from variations.params import VariationParams


def make_image(fmt="JPEG", size=(640, 480), color=(200, 80, 40), **save_args):
    """Bytes of a real image with a gradient, so thumbnails and variations have something to show."""
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], max(1, size[0] // 16)):
        image.paste((x % 256, 255 - x % 256, 128), (x, 0, x + 4, size[1]))
    if fmt == "PNG" and "mode" in save_args:
        image = image.convert(save_args.pop("mode"))
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


def make_person(username, role):
    """A user with an explicit team role (team.models.Role): admin, member or viewer."""
    user = get_user_model().objects.create_user(username, f"{username}@example.com", f"{username}-password-1")
    set_role(user, role)
    return user


def pages_as(person):
    """A test Client signed in as `person`, for the pages."""
    client = Client()
    client.force_login(person)
    return client


def api_as(person):
    """A test Client sending a fresh API token of `person`'s, for the JSON API."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(person, 'tests')[1]}")


_colours = itertools.count(1)


def make_source(user=None, size=(640, 480), derived_from=None):
    """A new stored source: each call paints a clearly different colour, so the bytes (and sources) differ."""
    n = next(_colours)
    colour = (n * 67 % 256, n * 151 % 256, n * 29 % 256)
    return sources.store_source(make_image(size=size, color=colour), user=user, derived_from=derived_from)[0]


def make_job(source, owner, status=Status.COMPLETED, outputs=1, nsfw=(), created_at=None, error="", **params):
    """A job in any status; a completed one gets `outputs` real JPEG outputs carrying their parameters."""
    values = VariationParams(**{"num_images": outputs, **params}).resolved()
    created_at = created_at or timezone.now()
    terminal = status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    job = Variation.objects.create(
        source=source,
        owner=owner,
        status=status,
        created_at=created_at,
        submitted_at=created_at + timedelta(seconds=1) if status != Status.QUEUED else None,
        completed_at=created_at + timedelta(seconds=4) if terminal else None,
        inference_ms=2500 if status == Status.COMPLETED else None,
        error=error,
        **values,
    )
    if status == Status.COMPLETED:
        for index in range(outputs):
            add_output(job, index, nsfw=index in nsfw)
    return job


def add_output(job, index, nsfw=False):
    data = make_image(size=(job.width, job.height), color=(40 + 50 * index, 120, 200 - 30 * index))
    data = images.embed_parameters(data, "JPEG", {"seed": job.seed, "job": str(job.pk), **job.params()})
    width, height, image_format, thumbnail = images.output_info(data, "jpeg")
    output = Output(variation=job, index=index, width=width, height=height, format=image_format, byte_size=len(data), nsfw=nsfw)
    output.image.save("output", ContentFile(data), save=False)
    output.thumbnail.save("thumbnail", ContentFile(thumbnail), save=False)
    output.save()
    return output


def run_dispatcher_here(seconds=30):
    """Run the dispatcher in the test's own process until its work is done (or `seconds` pass)."""
    holder = "test-dispatcher"
    assert DispatcherLease.acquire(holder, 10)
    try:
        dispatcher.Dispatcher(holder).run(seconds)
    finally:
        DispatcherLease.release(holder)
