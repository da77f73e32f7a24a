"""A source's gallery (the source beside its jobs and their outputs), new variations, and single outputs."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from pydantic import ValidationError

from team.access import browse_required, require, run_required, safe_next, wants_json

from ..forms import VariationForm
from ..models import Output, Source, Variation
from ..params import PRESETS, TITLE_MAX, SourceChanges
from ..services import jobs, sources

JOBS_PER_PAGE = 10
VIEW_MODES = ("single", "slider", "split")  # the output alone, a compare slider, source and output side by side


def gallery_url(source, job=None):
    url = reverse("source-gallery", args=[source.pk])
    return f"{url}#job-{job.pk}" if job else url


def render_gallery(request, source, form, status=200):
    page = Paginator(Variation.objects.with_outputs().filter(source=source).order_by("-created_at"), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    derived = Source.objects.filter(derived_from__variation__source=source).order_by("-created_at")
    return render(request, "variations/gallery.html", {
        "nav": "library",
        "source": source,
        "page": page,
        "form": form,
        "derived_sources": derived,
        "return_to": request.get_full_path() if request.method == "GET" else gallery_url(source),
    }, status=status)


def _source(source_id):
    related = ("uploaded_by", "derived_from__variation__source")
    return get_object_or_404(Source.objects.select_related(*related), pk=source_id)


@browse_required
@require_GET
def gallery(request, source_id):
    source = _source(source_id)
    form = VariationForm(source, jobs.remembered_choices(request.user))
    if "edit" in request.GET:  # "Edit & run": the form prefilled with that job's parameters
        try:
            job_id = uuid.UUID(request.GET["edit"])
        except ValueError:
            raise Http404("No such job.") from None
        form = VariationForm.for_job(get_object_or_404(Variation, pk=job_id, source=source))
    return render_gallery(request, source, form)


@run_required
@require_POST
def run_variation(request, source_id):
    source = _source(source_id)
    form, params = VariationForm.from_post(source, request.POST)
    if params is None:
        return render_gallery(request, source, form, status=400)
    job = jobs.create_variation(source, params, request.user)
    messages.success(request, "Variation queued. It appears below as soon as it is ready.")
    return redirect(gallery_url(source, job))


@require("curate")
@require_POST
def rename_source(request, source_id):
    """A new title for a source (as `PATCH /api/v1/sources/{id}`: any member, like a board's name)."""
    source = get_object_or_404(Source, pk=source_id)
    try:
        changes = SourceChanges.model_validate({"title": request.POST.get("title", "")})
    except ValidationError:
        messages.error(request, f"A title has 1 to {TITLE_MAX} characters.")
    else:
        sources.rename_source(source, changes.title)
        messages.success(request, f"Renamed to “{source.title}”.")
    return redirect(gallery_url(source))


@browse_required
@require_GET
def output_detail(request, output_id):
    output = get_object_or_404(Output.objects.select_related("variation__source", "variation__owner"), pk=output_id)
    job = output.variation
    mode = request.GET.get("mode") if request.GET.get("mode") in VIEW_MODES else "single"
    previous, following = neighbours(output)
    return render(request, "variations/output.html", {
        "nav": "library",
        "output": output,
        "job": job,
        "mode": mode,
        "previous": previous,
        "following": following,
        "back": safe_next(request, f"{gallery_url(job.source)}#output-{output.pk}"),
        "source": job.source,
        "siblings": job.outputs.all(),
        "derived_sources": output.derived_sources.order_by("-created_at"),
    })


def neighbours(output):
    """The outputs before and after this one in its gallery's order (newest job first, then by index), or None."""
    order = list(
        Output.objects.filter(variation__source_id=output.variation.source_id)
        .order_by("-variation__created_at", "variation_id", "index")
        .values_list("pk", flat=True)
    )
    at = order.index(output.pk)
    return (order[at - 1] if at > 0 else None), (order[at + 1] if at + 1 < len(order) else None)


@run_required
@require_POST
def vary_output(request, output_id):
    """"Vary this…": the output becomes a source of its own, linked to where it came from.

    With `preset` (subtle or strong), one-click Vary: a job with that preset starts on the new source too.
    """
    output = get_object_or_404(Output.objects.select_related("variation__source"), pk=output_id)
    preset = request.POST.get("preset")
    if preset and preset not in PRESETS:
        messages.error(request, "Choose the subtle or the strong preset.")
        return redirect(safe_next(request, gallery_url(output.variation.source)))
    try:
        if preset:
            job = jobs.vary_with_preset(output, preset, request.user)
            messages.success(request, f"Varying ({preset}): the output is now a source of its own, and its job is queued.")
            return redirect(gallery_url(job.source, job))
        source = sources.vary_output(output, request.user)
    except FileNotFoundError:
        messages.error(request, "This output's file is missing from storage; it cannot be varied.")
        return redirect(safe_next(request, gallery_url(output.variation.source)))
    except sources.UploadRejected as exc:
        messages.error(request, f"This output cannot become a source: {exc}")
        return redirect(safe_next(request, gallery_url(output.variation.source)))
    messages.success(request, "The output is now a source of its own. Run variations of it here.")
    return redirect(gallery_url(source))


@run_required
@require_POST
def star_output(request, output_id):
    """Star (starred=1) or unstar (starred=0) an output; idempotent, so a repeated click does no harm."""
    output = get_object_or_404(Output.objects.select_related("variation"), pk=output_id)
    value = request.POST.get("starred")
    if value not in ("0", "1"):
        if wants_json(request):
            return JsonResponse({"error": "starred must be 0 or 1"}, status=400)
        messages.error(request, "The star request was not understood.")
        return redirect(safe_next(request, reverse("output-detail", args=[output.pk])))
    jobs.set_starred(output, value == "1")
    if wants_json(request):
        return JsonResponse({"starred": output.starred})
    return redirect(safe_next(request, reverse("output-detail", args=[output.pk])))
