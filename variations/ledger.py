"""WaveSpeed spending as a ledger: what was charged stays charged.

A charge is written when WaveSpeed took a task (or may have: a submit without a clear answer), a refund
when it failed, cancelled or timed out the task. Entries outlive their job: deleting a job, a source's
gallery or archiving them never lowers a month's spending; only a refund does. Amounts keep WaveSpeed's
precision (fractions of a cent) and show the same way everywhere (`format_usd`).
"""

from decimal import Decimal

from django.db import IntegrityError
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from .models import ErrorCode, LedgerEntry, Status, Variation

# Task ends that WaveSpeed refunds: its own task codes (kept as digits), and the statuses it ended itself.
REFUNDED = Q(status=Status.FAILED) & (Q(error_code=ErrorCode.TASK_FAILED) | Q(error_code__regex=r"^[0-9]+$"))


def format_usd(amount):
    """"$0.025", "$0.40", "$12.3456": cents always, fractions of a cent when WaveSpeed charges them;
    "unknown" for a price nobody could tell (never "$0.00")."""
    if amount is None:
        return "unknown"
    value = Decimal(amount).quantize(Decimal("0.0001")).normalize()
    places = max(2, -value.as_tuple().exponent)
    return f"${value:.{places}f}"


def charge(job, quoted=True):
    """WaveSpeed took (or may have taken) the job's current task: charge its price once.

    `quoted`: the price is WaveSpeed's own quote (False: an estimate, see costs.estimate).
    """
    _write(job, job.prediction_id, LedgerEntry.Kind.CHARGE, job.cost_usd, quoted, when=job.submitted_at)


def refund(job, prediction_id):
    """WaveSpeed failed, cancelled or timed out the task `prediction_id`: its charge comes back, once."""
    charged = LedgerEntry.objects.filter(job=job, prediction_id=prediction_id, kind=LedgerEntry.Kind.CHARGE).first()
    if charged is not None:
        amount = None if charged.amount_usd is None else -charged.amount_usd
        _write(job, prediction_id, LedgerEntry.Kind.REFUND, amount, charged.quoted)


def _write(job, prediction_id, kind, amount, quoted, when=None):
    """One entry per task and kind: one written already (a webhook and a poll, or two processes) is enough. One
    statement, no transaction of its own (the dispatcher writes one per job on its loop); a job deleted meanwhile
    (its foreign key, checked at commit) writes nothing."""
    owner = job.owner
    entry = LedgerEntry(
        job=job,
        owner=owner,
        owner_name=owner.get_username() if owner else "",
        prediction_id=prediction_id,
        kind=kind,
        amount_usd=amount,
        num_images=job.num_images,
        quoted=quoted,
        created_at=when or timezone.now(),
    )
    try:
        LedgerEntry.objects.bulk_create([entry], ignore_conflicts=True)
    except IntegrityError:
        pass


def settle_ledger(jobs=None):
    """Write what the jobs' states say but the ledger lacks: a charge for every task WaveSpeed took (or may
    have) and a refund for every one it failed. Idempotent; a safety net under the dispatcher's own
    entries, run before spending is read and before jobs are deleted."""
    jobs = Variation.objects.all() if jobs is None else jobs
    taken = jobs.filter(~Q(prediction_id="") | Q(error_code=ErrorCode.SUBMIT_AMBIGUOUS)).select_related("owner")
    for job in taken.filter(~_written(LedgerEntry.Kind.CHARGE)):
        charge(job)
    for job in taken.filter(REFUNDED).filter(~_written(LedgerEntry.Kind.REFUND)):
        refund(job, job.prediction_id)


def _written(kind):
    """The job's current task has an entry of this kind."""
    return Exists(LedgerEntry.objects.filter(job=OuterRef("pk"), prediction_id=OuterRef("prediction_id"), kind=kind))


@receiver(pre_delete, sender=Variation, dispatch_uid="ledger-before-a-job-goes")
def keep_charges_of_deleted_jobs(sender, instance, **kwargs):
    """A job about to be deleted (alone, with its source, or by the archive) leaves its charges written."""
    settle_ledger(Variation.objects.filter(pk=instance.pk))
