"""Estimated WaveSpeed spending: each job's quoted price, totals per person and month, the monthly budget.

The price of a job comes from WaveSpeed's price endpoint (cached) and is recorded on the job when the
dispatcher sends it. What is spent is read from the ledger (variations.ledger): a charge once WaveSpeed
took a task, or may have, and a refund when WaveSpeed failed it; deleting never takes a charge back.
These are estimates: WaveSpeed's own billing is the truth.
"""

import hashlib
import json
import logging
import time
from datetime import UTC, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Case, F, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

import wavespeed_api as wavespeed

from . import ledger
from .connection import wavespeed_client
from .ledger import format_usd
from .models import LedgerEntry, Status, Variation

log = logging.getLogger(__name__)

PRICE_RETRY_SECONDS = 60  # after a failed price lookup, the dispatcher does not ask again for this long
BALANCE_CACHE_SECONDS = 60
_price_unavailable_until = 0.0


def month_start(now=None):
    """The first instant of the current calendar month in UTC."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_entries(settle=True):
    """This month's ledger, brought up to date with this month's jobs first (`settle`: not from a thread
    that must not write)."""
    if settle:
        ledger.settle_ledger(Variation.objects.filter(submitted_at__gte=month_start()))
    return LedgerEntry.objects.filter(created_at__gte=month_start())


def spent_this_month(settle=True):
    """Charges less refunds this month; an entry without a known price counts as nothing here, and
    budget_status says how many there are."""
    return exact(month_entries(settle).aggregate(usd=Sum("amount_usd"))["usd"])


def exact(total):
    """A sum of ledger amounts at the ledger's precision (SQLite sums decimals in floating point)."""
    return Decimal(total or 0).quantize(Decimal("0.000001"))


def fetch_price(job):
    """WaveSpeed's quote for one run of the job's parameters (cached), or None.

    Runs in a dispatcher pool thread beside the submit, never on the loop thread: a slow price
    endpoint must not hold up the loop. Short timeouts, no retries, and never raises: pricing
    must not delay or stop a submit.
    """
    global _price_unavailable_until
    if time.monotonic() < _price_unavailable_until:
        return None
    try:
        return cached_price(job.params())
    except Exception as exc:  # WaveSpeed or the cache unreachable: the next job tries again later
        log.warning("WaveSpeed price unavailable: %s", getattr(exc, "message", None) or type(exc).__name__)
        _price_unavailable_until = time.monotonic() + PRICE_RETRY_SECONDS
        return None


def cached_price(params):
    """WaveSpeed's price for these parameters, kept FLUXSITE_PRICE_CACHE_SECONDS (prices change rarely)."""
    key = price_key(params)
    price = cache.get(key)
    if price is None:
        price = wavespeed_client(timeout=(3, 5), retries=0).price(params).charged
        cache.set(key, price, settings.FLUXSITE_PRICE_CACHE_SECONDS)
    return price


def price_key(params):
    """The cache key of WaveSpeed's quote for these parameters (the seed does not change a price)."""
    inputs = {name: value for name, value in params.items() if name != "seed"}
    return "wavespeed-price:" + hashlib.sha256(
        json.dumps([settings.WAVESPEED_BASE_URL, wavespeed.MODEL_ID, inputs], sort_keys=True).encode()
    ).hexdigest()


def estimate(job):
    """(price, quoted) without asking WaveSpeed: its cached quote for these parameters (quoted), else the last
    price recorded for the same parameters, else FLUXSITE_PRICE_PER_IMAGE_USD per image; None when nobody can
    tell. Money fails closed: an unknown price is never taken as zero."""
    quote = cache.get(price_key(job.params()))
    if quote is not None:
        return quote, True
    last = known_price(job)
    if last is not None:
        return last, False
    per_image = settings.FLUXSITE_PRICE_PER_IMAGE_USD
    if per_image is not None:
        return per_image * job.num_images, False
    return None


def known_price(job):
    """The price last recorded for the same parameters (the seed aside), or None."""
    same = {name: value for name, value in job.params().items() if name != "seed"}
    return (
        Variation.objects.filter(cost_usd__isnull=False, **same)
        .order_by("-created_at")
        .values_list("cost_usd", flat=True)
        .first()
    )


def record_price(job, price):
    if price is not None:
        Variation.objects.filter(pk=job.pk).update(cost_usd=price)
        job.cost_usd = price


def budget_refusal(job, price, settle=True):
    """Why `job` may not be sent at `price` this month ("" when it fits, or no budget is set). Jobs being
    submitted right now are not accepted yet, but will be: they count too. An unknown price (None) is the
    caller's to hold back: it never fits, and is not refused either."""
    budget = settings.FLUXSITE_MONTHLY_BUDGET_USD
    if not budget or price is None:
        return ""
    sending = Variation.objects.filter(status=Status.SUBMITTING).exclude(pk=job.pk).aggregate(usd=Sum("cost_usd"))
    committed = spent_this_month(settle) + (sending["usd"] or 0)
    if committed + price <= budget:
        return ""
    return (
        f"Not sent: this month's WaveSpeed budget of {format_usd(budget)} is reached ({format_usd(committed)} spent, "
        f"this job {format_usd(price)}). Retry it next month, or ask an admin to raise FLUXSITE_MONTHLY_BUDGET_USD."
    )


def budget_status():
    """This month's estimated spending against the budget, for the costs page."""
    budget = settings.FLUXSITE_MONTHLY_BUDGET_USD
    spent = spent_this_month()
    charges = month_entries(settle=False).filter(kind=LedgerEntry.Kind.CHARGE)
    return {
        "budget": budget or None,
        "spent": spent,
        "remaining": max(budget - spent, Decimal(0)) if budget else None,
        "percent": min(int(spent * 100 / budget), 100) if budget else None,
        "reached": bool(budget) and spent >= budget,
        "unpriced": charges.filter(amount_usd__isnull=True).count(),
        "estimated": charges.filter(quoted=False).count(),
    }


def totals_by_month(months=12):
    """[{month, jobs, images, usd, people: [{name, jobs, images, usd}]}] from the ledger, newest month first.
    Jobs and images count tasks charged less those refunded."""
    ledger.settle_ledger()
    since = month_start() - timedelta(days=31 * (months - 1))
    sign = Case(When(kind=LedgerEntry.Kind.REFUND, then=Value(-1)), default=Value(1))
    rows = (
        LedgerEntry.objects.filter(created_at__gte=month_start(since))
        .annotate(month=TruncMonth("created_at"))
        .values("month", "owner_name")
        .annotate(jobs=Sum(sign), images=Sum(sign * F("num_images")), usd=Sum("amount_usd"))
        .order_by("-month", "-usd", "owner_name")
    )
    by_month = {}
    for row in rows:
        usd = exact(row["usd"])
        month = by_month.setdefault(row["month"], {"month": row["month"], "jobs": 0, "images": 0, "usd": Decimal(0), "people": []})
        month["people"].append({"name": row["owner_name"] or "(deleted user)", "jobs": row["jobs"], "images": row["images"], "usd": usd})
        month["jobs"] += row["jobs"]
        month["images"] += row["images"]
        month["usd"] += usd
    return list(by_month.values())


def account_balance():
    """WaveSpeed's account balance in USD (cached a minute), or None when WaveSpeed does not answer."""
    balance = cache.get("wavespeed-balance")
    if balance is None:
        try:
            balance = wavespeed_client(timeout=(3, 5), retries=0).balance()
        except wavespeed.WaveSpeedError as exc:
            log.warning("WaveSpeed balance unavailable: %s", exc.message)
            return None
        cache.set("wavespeed-balance", balance, BALANCE_CACHE_SECONDS)
    return balance
