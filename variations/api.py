"""Sources and Variation jobs in the JSON API (/api/v1/sources, /api/v1/variations; mounted by fluxsite.api)."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import File, Query, Router, Schema
from ninja import Status as Reply
from ninja.errors import HttpError
from ninja.files import UploadedFile
from ninja.pagination import PageNumberPagination, paginate
from pydantic import Field

from team.api import DetailOut, ErrorsOut, requires

from .models import PUBLIC_TO_INTERNAL, Source, Status, Variation
from .params import SourceChanges, VariationOverrides, VariationParams
from .search import LibraryFilters, find_sources
from .services import jobs, sources
from .waiting import why_waiting


router = Router()
PublicStatus = Literal[tuple(PUBLIC_TO_INTERNAL)]  # what a client sees: queued, processing, completed, failed, cancelled


def media_url_resolvers(url_name):
    """Resolvers of `url` and `thumbnail_url`: absolute URLs in the app's own storage, never WaveSpeed's."""

    def url(obj, context):
        return context["request"].build_absolute_uri(reverse(url_name, args=[obj.pk]))

    def thumbnail_url(obj, context):
        return context["request"].build_absolute_uri(reverse(f"{url_name}-thumbnail", args=[obj.pk]))

    return staticmethod(url), staticmethod(thumbnail_url)


class SourceOut(Schema):
    id: UUID
    title: str
    url: str
    thumbnail_url: str
    width: int
    height: int
    format: str
    sha256: str
    created_at: datetime

    resolve_url, resolve_thumbnail_url = media_url_resolvers("media-source")


class OutputOut(Schema):
    id: UUID
    index: int
    url: str
    thumbnail_url: str
    width: int
    height: int
    nsfw: bool

    resolve_url, resolve_thumbnail_url = media_url_resolvers("media-output")


class QueueOut(Schema):
    position: int = Field(description="place in the queue: 1 goes out next; 0 is being sent now")
    reason: str = Field(description="what it waits on: N of N in flight, the per-minute budget, the monthly budget, no key, key refused, price unknown")
    eta_seconds: int | None = Field(description="estimated seconds until it starts; null while it waits on a person")


class VariationOut(Schema):
    id: UUID
    source: UUID = Field(validation_alias="source_id")
    status: PublicStatus = Field(validation_alias="public_status")
    size: str
    num_inference_steps: int
    seed: int
    guidance_scale: float
    num_images: int
    enable_safety_checker: bool
    output_format: str
    outputs: list[OutputOut]
    error: str
    error_code: str
    prediction_id: str
    created_at: datetime
    submitted_at: datetime | None
    completed_at: datetime | None
    inference_ms: int | None
    rerun_of: UUID | None = Field(validation_alias="rerun_of_id")
    queue: QueueOut | None = Field(None, description="why a queued job has not gone out yet; null once it has")

    @staticmethod
    def resolve_outputs(obj):
        return list(obj.outputs.all())

    @staticmethod
    def resolve_queue(obj):
        return why_waiting(obj)


class VariationIn(VariationParams):
    source: UUID = Field(strict=False)  # a UUID arrives as text in JSON


class VariationFilter(Schema):
    source: UUID | None = None
    status: PublicStatus | None = None


class Pages(PageNumberPagination):
    """ninja's page numbers, capped: a huge page number would overflow the database's OFFSET (a 500)."""

    class Input(PageNumberPagination.Input):
        page: int = Field(1, ge=1, le=1_000_000)


def job_rows():
    return Variation.objects.select_related("source").prefetch_related("outputs")


@router.post(
    "/sources",
    response={200: SourceOut, 201: SourceOut, 400: ErrorsOut, 403: DetailOut},
    tags=["sources"],
    auth=requires("run"),
)
def upload_source(request, image: UploadedFile = File(...)):
    """Upload a source image (multipart field `image`). Identical bytes give the existing source (200)."""
    try:
        source, created = sources.store_source(sources.read_upload(image), user=request.user, filename=image.name)
    except sources.UploadRejected as exc:
        return Reply(400, {"errors": {"image": [str(exc)]}})
    return Reply(201 if created else 200, source)


@router.get("/sources", response=list[SourceOut], tags=["sources"], auth=requires("browse"))
@paginate(Pages, page_size=20)
def list_sources(request, filters: Query[LibraryFilters]):
    """Sources, newest first unless `sort` says otherwise; the library's filters, `q` searching titles and seeds."""
    return find_sources(filters)


@router.get("/sources/{source_id}", response={200: SourceOut, 404: DetailOut}, tags=["sources"], auth=requires("browse"))
def get_source(request, source_id: UUID):
    return get_object_or_404(Source, pk=source_id)


@router.patch(
    "/sources/{source_id}",
    response={200: SourceOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut},
    tags=["sources"],
    auth=requires("curate"),
)
def update_source(request, source_id: UUID, changes: SourceChanges):
    """Rename a source (`title`, 1..200 characters). Members and admins may rename any source, as any board."""
    source = get_object_or_404(Source, pk=source_id)
    sources.rename_source(source, changes.title)
    return source


@router.post(
    "/variations",
    response={201: VariationOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut},
    tags=["variations"],
    auth=requires("run"),
)
def create_variation(request, payload: VariationIn):
    """Queue a Variation job; parameters left out take WaveSpeed's documented defaults."""
    source = Source.objects.filter(pk=payload.source).first()
    if source is None:
        return Reply(404, {"detail": "Unknown source."})
    params = VariationParams.model_validate(payload.model_dump(exclude={"source"}))
    return Reply(201, jobs.create_variation(source, params, request.user))


@router.get("/variations", response=list[VariationOut], tags=["variations"], auth=requires("browse"))
@paginate(Pages, page_size=20)
def list_variations(request, filters: Query[VariationFilter]):
    """Jobs, newest first; filter by source and by status."""
    found = job_rows()
    if filters.source:
        found = found.filter(source_id=filters.source)
    if filters.status:
        found = found.filter(status__in=PUBLIC_TO_INTERNAL[filters.status])
    return found.order_by("-created_at")


@router.get(
    "/variations/{job_id}",
    response={200: VariationOut, 404: DetailOut},
    tags=["variations"],
    auth=requires("browse"),
)
def get_variation(request, job_id: UUID):
    return get_object_or_404(job_rows(), pk=job_id)


@router.post(
    "/variations/{job_id}/rerun",
    response={201: VariationOut, 400: ErrorsOut, 403: DetailOut, 404: DetailOut},
    tags=["variations"],
    auth=requires("run"),
)
def rerun_variation(request, job_id: UUID, overrides: VariationOverrides = None):
    """A new job with this one's parameters and the overrides given; a new seed unless `seed` is given."""
    job = get_object_or_404(Variation, pk=job_id)
    changes = overrides.model_dump(exclude_none=True) if overrides else {}
    new_job, errors = jobs.rerun(job, changes, request.user)
    if errors:
        return Reply(400, {"errors": errors})
    return Reply(201, new_job)


@router.post(
    "/variations/{job_id}/cancel",
    response={200: VariationOut, 403: DetailOut, 404: DetailOut, 409: DetailOut},
    tags=["variations"],
    auth=requires("run"),
)
def cancel_variation(request, job_id: UUID):
    """Cancel a queued or running job. Members cancel their own jobs, as they delete only their own."""
    job = get_object_or_404(Variation, pk=job_id)
    if not job.deletable_by(request.user):  # cancelling ends a colleague's run as surely as deleting it
        raise HttpError(403, "Only an admin may cancel another person's job.")
    if not jobs.cancel(job):
        job.refresh_from_db()
        if job.status != Status.CANCELLED:
            return Reply(409, {"detail": f"The job is {job.public_status} and can no longer be cancelled."})
    return Reply(200, get_object_or_404(job_rows(), pk=job_id))


@router.delete(
    "/sources/{source_id}",
    response={204: None, 403: DetailOut, 404: DetailOut, 409: DetailOut},
    tags=["sources"],
    auth=requires("delete"),
)
def delete_source(request, source_id: UUID):
    """Delete a source with its whole gallery. Members delete sources whose every job is their own."""
    source = get_object_or_404(Source, pk=source_id)
    if not source.deletable_by(request.user):
        raise HttpError(403, "Only an admin may delete a source with other people's jobs on it.")
    if sources.delete_source(source) is None:
        return Reply(409, {"detail": "Jobs of this source are still running: cancel them first."})
    return Reply(204, None)


@router.delete(
    "/variations/{job_id}",
    response={204: None, 403: DetailOut, 404: DetailOut, 409: DetailOut},
    tags=["variations"],
    auth=requires("delete"),
)
def delete_variation(request, job_id: UUID):
    """Delete a finished job and its outputs. Members delete their own jobs."""
    job = get_object_or_404(Variation, pk=job_id)
    if not job.deletable_by(request.user):
        raise HttpError(403, "Only an admin may delete another person's job.")
    if not jobs.delete_job(job):
        return Reply(409, {"detail": f"The job is {job.public_status}: cancel it first."})
    return Reply(204, None)

