"""The job history, live status of running jobs, and the re-run / cancel / retry controls."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from team.access import browse_required, forbidden, run_required, safe_next

from .. import search
from ..forms import JobFilterForm
from ..models import ACTIVE_STATUSES, PUBLIC_TO_INTERNAL, Variation
from ..services import jobs as job_services
from .gallery import gallery_url

JOBS_PER_PAGE = 25
LIVE_MAX_JOBS = 100
LIVE_TEMPLATES = {"card": "includes/job_card.html", "row": "includes/job_row.html"}


def filtered_jobs(form):
    """Jobs matching the valid filters of the history form (an invalid field is left out, not guessed)."""
    jobs = Variation.objects.with_outputs().order_by("-created_at")
    form.is_valid()
    chosen = getattr(form, "cleaned_data", {})
    if chosen.get("q"):
        jobs = jobs.filter(search.jobs_matching_text(chosen["q"]))
    if chosen.get("status"):
        jobs = jobs.filter(status__in=PUBLIC_TO_INTERNAL[chosen["status"]])
    if chosen.get("person"):
        jobs = jobs.filter(owner=chosen["person"])
    if chosen.get("date_from"):
        jobs = jobs.filter(created_at__date__gte=chosen["date_from"])
    if chosen.get("date_to"):
        jobs = jobs.filter(created_at__date__lte=chosen["date_to"])
    return jobs


@browse_required
@require_GET
def history(request):
    form = JobFilterForm(request.GET)
    page = Paginator(filtered_jobs(form), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "variations/jobs.html", {
        "nav": "jobs",
        "form": form,
        "page": page,
        "filtered": any(request.GET.get(name) for name in form.fields),
        "return_to": request.get_full_path(),
    }, status=400 if form.errors else 200)


@browse_required
@require_GET
def live(request):
    """Where the given jobs stand, with their freshly rendered card or row, for the pages' polling script.

    `ids`: comma-separated job ids; `view`: card (gallery) or row (history); `next`: the page the
    controls in the returned HTML should come back to.
    """
    template = LIVE_TEMPLATES.get(request.GET.get("view", "card"))
    if template is None:
        return JsonResponse({"error": "view must be card or row"}, status=400)
    try:
        ids = [uuid.UUID(text) for text in request.GET.get("ids", "").split(",") if text.strip()]
    except ValueError:
        return JsonResponse({"error": "ids must be job ids separated by commas"}, status=400)
    if len(ids) > LIVE_MAX_JOBS:
        return JsonResponse({"error": f"at most {LIVE_MAX_JOBS} jobs at a time"}, status=400)
    context = {"return_to": safe_next(request, "")}
    found = [
        {
            "id": str(job.pk),
            "status": job.public_status,
            "active": job.status in ACTIVE_STATUSES,
            "html": render_to_string(template, {**context, "job": job}, request),
        }
        for job in Variation.objects.with_outputs().filter(pk__in=ids)
    ]
    return JsonResponse({"jobs": found})


@run_required
@require_POST
def rerun(request, job_id):
    """"Again" (a new seed) or, with seed=same, "Same seed" (an exact reproduction)."""
    job = get_object_or_404(Variation.objects.select_related("source"), pk=job_id)
    overrides = {"seed": job.seed} if request.POST.get("seed") == "same" else {}
    new_job, errors = job_services.rerun(job, overrides, request.user)
    if errors:
        messages.error(request, "This job cannot be run again: " + "; ".join(m for ms in errors.values() for m in ms))
        return redirect(safe_next(request, gallery_url(job.source)))
    what = "with the same seed" if overrides else "with a new seed"
    messages.success(request, f"Queued again {what}.")
    return redirect(safe_next(request, gallery_url(job.source, new_job)))


@run_required
@require_POST
def cancel(request, job_id):
    job = get_object_or_404(Variation.objects.select_related("source"), pk=job_id)
    if not job.deletable_by(request.user):  # cancelling ends a colleague's run as surely as deleting it
        return forbidden(request, "Only an admin may cancel another person's job.")
    if job_services.cancel(job):
        messages.success(request, "Job cancelled.")
    else:
        messages.error(request, f"The job is {job.public_status} and can no longer be cancelled.")
    return redirect(safe_next(request, gallery_url(job.source, job)))


@run_required
@require_POST
def retry(request, job_id):
    job = get_object_or_404(Variation.objects.select_related("source"), pk=job_id)
    new_job, created = job_services.retry(job, request.user)
    if new_job is None:
        messages.error(request, f"Only failed or cancelled jobs can be retried; this one is {job.public_status}.")
        return redirect(safe_next(request, gallery_url(job.source, job)))
    if created:
        messages.success(request, "Queued again with exactly the same parameters.")
    else:
        messages.info(request, "This job was already retried: here is its retry.")
    return redirect(safe_next(request, gallery_url(job.source, new_job)))
