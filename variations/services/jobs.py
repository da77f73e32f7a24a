"""Jobs: queueing, re-runs, cancels, retries, stars and deletes, for the pages and the JSON API alike."""

from django.db import transaction

from ..dispatcher import wake_dispatcher
from ..models import ACTIVE_STATUSES, Output, Status, Variation
from ..params import PRESETS, VariationParams, default_size, validate
from .sources import delete_files_on_commit, vary_output

# What the form and one-click Vary take from the person's last job, so each starts where they left off.
REMEMBERED = ("guidance_scale", "num_inference_steps", "num_images", "output_format", "enable_safety_checker")


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
    """Run a failed or cancelled job again with exactly its parameters (seed included): (job, created).

    A job is retried once: asked again (a second click, a second tab), this gives the first retry back.
    """
    if job.status not in (Status.FAILED, Status.CANCELLED):
        return None, False
    with transaction.atomic():
        locked = Variation.objects.select_for_update().with_retries().get(pk=job.pk)  # one retry at a time per job
        if locked.retried_as_id:
            return Variation.objects.get(pk=locked.retried_as_id), False
        params = VariationParams.model_validate(job.params())
        return create_variation(job.source, params, owner, rerun_of=job), True


def remembered_choices(person):
    """The person's choices on their latest job ({} before their first), for a new form or one-click Vary."""
    latest = Variation.objects.filter(owner_id=person.pk).order_by("-created_at").values(*REMEMBERED).first()
    return latest or {}


def vary_with_preset(output, preset, person):
    """One-click Vary: the output becomes a derived source and a job starts on it with a preset.

    The size keeps the output's aspect ratio at about a megapixel; image count, format and safety are the
    person's last choices. Raises FileNotFoundError or UploadRejected as vary_output does.
    """
    source = vary_output(output, person)
    values = {**remembered_choices(person), **PRESETS[preset], "size": default_size(source.width, source.height)}
    return create_variation(source, VariationParams.model_validate(values), person)


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
