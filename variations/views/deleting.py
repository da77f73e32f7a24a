"""Deleting sources (with their whole gallery) and single jobs: members their own work, admins anything."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from team.access import forbidden, require, safe_next

from ..models import Source, Variation
from ..services import jobs, sources
from .gallery import gallery_url

delete_required = require("delete")


@delete_required
@require_POST
def delete_source(request, source_id):
    source = get_object_or_404(Source, pk=source_id)
    if not source.deletable_by(request.user):
        return forbidden(request, "Only an admin may delete a source that someone else uploaded or ran jobs on.")
    if sources.delete_source(source) is None:
        messages.error(request, "Jobs of this source are still running: cancel them first.")
        return redirect(gallery_url(source))
    messages.success(request, "Source deleted, with all its variations.")
    return redirect("library")


@delete_required
@require_POST
def delete_job(request, job_id):
    job = get_object_or_404(Variation.objects.select_related("source"), pk=job_id)
    if not job.deletable_by(request.user):
        return forbidden(request, "Only an admin may delete another person's job.")
    if not jobs.delete_job(job):
        messages.error(request, f"The job is {job.public_status}: cancel it first.")
    else:
        messages.success(request, "Job deleted, with its outputs.")
    return redirect(safe_next(request, gallery_url(job.source)))
