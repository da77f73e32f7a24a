"""The library: every source as a thumbnail with its latest variations, and uploads onto it."""

from collections import defaultdict

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, Window
from django.db.models.functions import RowNumber
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from team.access import browse_required, run_required, wants_json

from .. import search
from ..models import ACTIVE_STATUSES, Output, Source, Variation
from ..services import sources

SOURCES_PER_PAGE = 24
STRIP_LENGTH = 4  # latest outputs shown under each source


def library_sources():
    return Source.objects.select_related("uploaded_by").order_by("-created_at")


def attach_counts(sources):
    """Give each source its job_count, output_count and active_count, counted for these sources only.

    Counting in the page's own query would make the database group the whole library before cutting the
    page out of it, so every page would cost more as the library grows (16× slower at 10,000 sources).
    """
    counts = {
        row["source_id"]: row
        for row in Variation.objects.filter(source__in=[s.pk for s in sources])
        .order_by()
        .values("source_id")
        .annotate(
            job_count=Count("id", distinct=True),
            output_count=Count("outputs"),
            active_count=Count("id", filter=Q(status__in=ACTIVE_STATUSES), distinct=True),
        )
    }
    for source in sources:
        row = counts.get(source.pk, {})
        source.job_count = row.get("job_count", 0)
        source.output_count = row.get("output_count", 0)
        source.active_count = row.get("active_count", 0)
    return sources


def attach_latest_outputs(sources):
    """Give each source its latest outputs as `.strip`, in one query whatever the number of sources."""
    ranked = (
        Output.objects.filter(variation__source__in=[s.pk for s in sources])
        .annotate(
            gallery_id=F("variation__source_id"),
            rank=Window(RowNumber(), partition_by=F("variation__source_id"), order_by=[F("created_at").desc(), F("index")]),
        )
        .filter(rank__lte=STRIP_LENGTH)
        .order_by("-created_at", "index")
    )
    by_source = defaultdict(list)
    for output in ranked:
        by_source[output.gallery_id].append(output)
    for source in sources:
        source.strip = by_source[source.pk]
    return sources


@browse_required
@require_GET
def library(request):
    """The library, narrowed by the filters in the query string (`/?q=beach&starred=1`); see variations.search."""
    filters, errors = search.read_filters(request.GET)
    page = Paginator(search.find_sources(filters, library_sources()), SOURCES_PER_PAGE).get_page(request.GET.get("page"))
    attach_latest_outputs(attach_counts(page.object_list))
    return render(request, "variations/library.html", {
        "nav": "library",
        "page": page,
        "filters": filters,
        "filter_errors": errors,
        "sorts": search.SORTS,
        "statuses": search.STATUSES,
        "people": get_user_model().objects.order_by("username").values_list("username", flat=True),
        "max_upload_bytes": settings.FLUXSITE_MAX_UPLOAD_BYTES,
    }, status=400 if errors else 200)


def _tile_html(request, source):
    source = attach_latest_outputs(attach_counts([library_sources().get(pk=source.pk)]))[0]
    return render_to_string("includes/source_tile.html", {"source": source}, request)


@run_required
@require_POST
def upload(request):
    """Keep each posted image (field `image`, one or several) as a source, with a message per file.

    The page's script sends one file per request to show a progress bar per file and asks for JSON;
    without scripts the form posts them all and gets a redirect (to the gallery when there is one).
    """
    files = request.FILES.getlist("image")
    if not files:
        if wants_json(request):
            return JsonResponse({"results": [], "error": "Choose at least one image file."}, status=400)
        messages.error(request, "Choose at least one image file to upload.")
        return redirect("library")
    results = []
    for uploaded in files:
        try:
            source, created = sources.store_source(sources.read_upload(uploaded), user=request.user, filename=uploaded.name)
        except sources.UploadRejected as exc:
            results.append({"name": uploaded.name, "ok": False, "error": str(exc)})
            continue
        results.append({
            "name": uploaded.name,
            "ok": True,
            "created": created,
            "id": str(source.pk),
            "url": reverse("source-gallery", args=[source.pk]),
            "run_url": reverse("source-run", args=[source.pk]),
            "thumbnail_url": reverse("media-source-thumbnail", args=[source.pk]),
            "tile_html": _tile_html(request, source) if created else "",
        })
    stored = [r for r in results if r["ok"]]
    if wants_json(request):
        return JsonResponse({"results": results}, status=200 if stored else 400)
    for result in results:
        if not result["ok"]:
            messages.error(request, f"{result['name']}: {result['error']}")
        elif result["created"]:
            messages.success(request, f"{result['name']} uploaded. Choose parameters and run a variation.")
        else:
            messages.info(request, f"{result['name']} was already in the library.")
    if len(stored) == 1:
        return redirect(stored[0]["url"])
    return redirect("library")
