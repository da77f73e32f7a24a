"""What the app knows of its WaveSpeed account: a refused key (or account, or balance), the errors its calls
met, and the spending ledger. Models of the variations app, imported (and so registered) by models.py;
they refer to jobs by name ("variations.Variation"), so this module needs nothing from models.py.
"""

import hashlib

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone


def key_fingerprint(key):
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


class ApiKeyRefusal(models.Model):
    """WaveSpeed refused this key (401), its account (403) or, for lack of credit, a submit: no more
    submits with it until it works again (the dispatcher checks the balance each minute)."""

    class Kind(models.TextChoices):  # the WaveSpeedError kinds that pause submits
        UNAUTHORIZED = "unauthorized", "WaveSpeed refused the API key (401)"
        FORBIDDEN = "forbidden", "WaveSpeed refused the account (403)"
        INSUFFICIENT_BALANCE = "insufficient_balance", "The WaveSpeed balance is too low"

    fingerprint = models.CharField(max_length=16, primary_key=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.UNAUTHORIZED)
    message = models.TextField(blank=True)
    refused_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    @classmethod
    def for_current_key(cls):
        return cls.objects.filter(fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY)).first()


class WaveSpeedErrorCount(models.Model):
    """How many errors of each kind WaveSpeed calls met, summed over every process (read by /metrics)."""

    kind = models.CharField(max_length=40, primary_key=True)
    count = models.BigIntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)

    @classmethod
    def add(cls, tally):
        """Add {kind: count} (what this process met since it last reported) to the totals."""
        now = timezone.now()
        for kind, count in tally.items():
            totals = cls.objects.filter(kind=kind)
            if totals.update(count=F("count") + count, last_seen_at=now):
                continue
            try:
                with transaction.atomic():
                    cls.objects.create(kind=kind, count=count, last_seen_at=now)
            except IntegrityError:  # another process made the row first
                totals.update(count=F("count") + count, last_seen_at=now)


class LedgerEntry(models.Model):
    """One line of WaveSpeed spending (variations.ledger): a charge when WaveSpeed took, or may have taken,
    a task; a refund (a negative amount) when it failed it. Entries outlive their job and its owner
    (SET_NULL), so deleting or archiving never lowers a month's spending."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"

    job = models.ForeignKey("variations.Variation", null=True, on_delete=models.SET_NULL, related_name="ledger_entries")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    owner_name = models.CharField(max_length=150, blank=True)  # still tells whose it was once they are deleted
    prediction_id = models.CharField(max_length=100, blank=True)  # "" for a submit that may have reached WaveSpeed
    kind = models.CharField(max_length=6, choices=Kind.choices)
    amount_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True)  # None: no price could be told
    num_images = models.PositiveSmallIntegerField(default=1)
    quoted = models.BooleanField(default=True)  # WaveSpeed's own quote; False: an estimate (last price, setting)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["job", "prediction_id", "kind"], name="one_ledger_entry_per_task_and_kind")
        ]

    def __str__(self):
        return f"{self.kind} {self.amount_usd} {self.prediction_id}"
