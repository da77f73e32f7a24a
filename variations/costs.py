"""Estimated WaveSpeed spending: each job's quoted price, totals per person and month, the monthly budget.

The price of a job comes from WaveSpeed's price endpoint (cached) and is recorded on the job when the
dispatcher sends it. A job counts as spent once WaveSpeed accepted it, unless WaveSpeed failed the
task itself (failed tasks are refunded); a submit that may have reached WaveSpeed counts too, to err
on the safe side. These are estimates: WaveSpeed's own billing is the truth.
"""

import hashlib
import json
import logging
import time
from datetime import UTC, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

import wavespeed_api as wavespeed

from .connection import wavespeed_client
from .models import ErrorCode, Status, Variation

log = logging.getLogger(__name__)

PRICE_RETRY_SECONDS = 60  # after a failed price lookup, the dispatcher does not ask again for this long
BALANCE_CACHE_SECONDS = 60
_price_unavailable_until = 0.0


def charged_jobs():
    """Jobs WaveSpeed has charged, or may have: accepted (or perhaps accepted) and not failed by WaveSpeed."""
    accepted = ~Q(prediction_id="") | Q(error_code=ErrorCode.SUBMIT_AMBIGUOUS)
    refunded = Q(status=Status.FAILED) & (Q(error_code=ErrorCode.TASK_FAILED) | Q(error_code__regex=r"^[0-9]+$"))
    return Variation.objects.filter(accepted, cost_usd__isnull=False).exclude(refunded)


def month_start(now=None):
    """The first instant of the current calendar month in UTC."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def spent_this_month():
    total = charged_jobs().filter(submitted_at__gte=month_start()).aggregate(usd=Sum("cost_usd"))["usd"]
    return total or Decimal(0)


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
    inputs = {name: value for name, value in params.items() if name != "seed"}
    key = "wavespeed-price:" + hashlib.sha256(
        json.dumps([settings.WAVESPEED_BASE_URL, wavespeed.MODEL_ID, inputs], sort_keys=True).encode()
    ).hexdigest()
    price = cache.get(key)
    if price is None:
        price = wavespeed_client(timeout=(3, 5), retries=0).price(params).charged
        cache.set(key, price, settings.FLUXSITE_PRICE_CACHE_SECONDS)
    return price


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


def admit(job):
    """Called by the dispatcher for a job it has just claimed (SUBMITTING): record the price known for
    its parameters and send it only if it fits this month's budget. Returns False, having failed the
    job with a message that says why, when it does not. WaveSpeed's fresh quote comes with the submit."""
    price = known_price(job)
    record_price(job, price)
    budget = settings.FLUXSITE_MONTHLY_BUDGET_USD
    if not budget:
        return True
    # Jobs being submitted right now are not accepted yet, but will be: count them too.
    sending = Variation.objects.filter(status=Status.SUBMITTING).exclude(pk=job.pk).aggregate(usd=Sum("cost_usd"))
    committed = spent_this_month() + (sending["usd"] or 0)
    if committed + (price or 0) <= budget:
        return True
    job.move_to(
        Status.FAILED,
        submitted_at=None,
        error_code=ErrorCode.BUDGET_REACHED,
        error=(
            f"Not sent: this month's WaveSpeed budget of ${budget:.2f} is reached (${committed:.2f} spent, "
            f"this job ${price or 0:.2f}). Retry it next month, or ask an admin to raise FLUXSITE_MONTHLY_BUDGET_USD."
        ),
    )
    return False


def budget_status():
    """This month's estimated spending against the budget, for the costs page."""
    budget = settings.FLUXSITE_MONTHLY_BUDGET_USD
    spent = spent_this_month()
    return {
        "budget": budget or None,
        "spent": spent,
        "remaining": max(budget - spent, Decimal(0)) if budget else None,
        "percent": min(int(spent * 100 / budget), 100) if budget else None,
        "reached": bool(budget) and spent >= budget,
    }


def totals_by_month(months=12):
    """[{month, jobs, images, usd, people: [{name, jobs, images, usd}]}], newest month first."""
    since = month_start() - timedelta(days=31 * (months - 1))
    rows = (
        charged_jobs()
        .filter(submitted_at__gte=month_start(since))
        .annotate(month=TruncMonth("submitted_at"))
        .values("month", "owner__username")
        .annotate(jobs=Count("pk"), images=Sum("num_images"), usd=Sum("cost_usd"))
        .order_by("-month", "-usd", "owner__username")
    )
    by_month = {}
    for row in rows:
        month = by_month.setdefault(row["month"], {"month": row["month"], "jobs": 0, "images": 0, "usd": Decimal(0), "people": []})
        month["people"].append({"name": row["owner__username"] or "(deleted user)", **{k: row[k] for k in ("jobs", "images", "usd")}})
        for key in ("jobs", "images", "usd"):
            month[key] += row[key]
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
