"""Jobs: queueing, re-runs, cancels, retries, stars and deletes, for the pages and the JSON API alike."""

from django.db import transaction

from ..dispatcher import wake_dispatcher
from ..models import ACTIVE_STATUSES, Output, Status, Variation
from ..params import VariationParams, validate
from .sources import delete_files_on_commit


def enqueue_dispatch():
    """Wake the dispatcher once the current transaction commits (the notes: never inside one)."""
    transaction.on_commit(wake_dispatcher)


def create_variation(source, params: VariationParams, owner, rerun_of=None):
    """Queue a Variation job. The seed is drawn here, before submitting, so the job can be reproduced."""
    with transaction.atomic():
        job = Variation.objects.create(source=source, owner=owner, rerun_of=rerun_of, **params.resolved())
        enqueue_dispatch()
    return job


def rerun(job, overrides, owner):
    """A new job with `job`'s parameters, changed by `overrides`; without a seed override, a new seed.

    Returns (new job, None) or (None, {field: [message]}).
    """
    values = {**job.params(), "seed": None, **overrides}
    params, errors = validate(values)
    if errors:
        return None, errors
    return create_variation(job.source, params, owner, rerun_of=job), None


def cancel(job):
    """Cancel a queued or running job; True if it is now cancelled."""
    cancelled = job.cancel()
    if cancelled and job.delete_pending:
        enqueue_dispatch()
    return cancelled


def retry(job, owner):
    """Run a failed or cancelled job again with exactly its parameters (seed included)."""
    if job.status not in (Status.FAILED, Status.CANCELLED):
        return None
    params = VariationParams.model_validate(job.params())
    return create_variation(job.source, params, owner, rerun_of=job)


def delete_job(job):
    """Delete a finished job and its output files; False (nothing deleted) while it is still on its way."""
    with transaction.atomic():
        if Variation.objects.filter(pk=job.pk, status__in=ACTIVE_STATUSES).exists():
            return False
        outputs = list(job.outputs.all())
        job.delete()
        delete_files_on_commit([f for output in outputs for f in (output.image, output.thumbnail)])
    return True


def set_starred(output: Output, starred: bool):
    """Star or unstar an output. Only that column is written: the dispatcher may hold the row too."""
    output.starred = starred
    output.save(update_fields=["starred"])
