"""Why a queued job has not gone out yet: its place in the queue, the limit it waits on, and an estimate of
when it starts. Read by the API (`queue` on a job) and the pages; it only reads, the dispatcher decides.
"""

import math
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Min, Q, Sum
from django.utils import timezone

from . import costs
from .models import IN_FLIGHT_STATUSES, ApiKeyRefusal, Status, Variation

TYPICAL_SECONDS = 10.0  # a job's run until recent ones tell
STATE_SECONDS = 1.0  # one look at the queue serves every job shown within this long


@dataclass
class QueueState:
    """One look at everything a queued job may wait on."""

    queued: list  # ids of queued jobs, oldest (next) first
    in_flight: int
    refusal: ApiKeyRefusal | None
    budget_reached: bool
    refill_seconds: float  # until the per-minute window lets the next job out (0: it does now)
    typical_seconds: float
    at: float


_state = None


def queue_state():
    """The queue as it stands (looked at most once a STATE_SECONDS per process)."""
    global _state
    if _state is None or time.monotonic() - _state.at > STATE_SECONDS:
        _state = _look()
    return _state


def _look():
    now = timezone.now()
    holding = Q(status__in=IN_FLIGHT_STATUSES) | Q(delete_pending=True)
    per_minute = settings.WAVESPEED_MAX_PER_MINUTE
    refill = 0.0
    if per_minute:
        window = Variation.objects.filter(submitted_at__gte=now - timedelta(seconds=60))
        used = window.aggregate(n=Sum("num_images"), first=Min("submitted_at"))
        if (used["n"] or 0) >= per_minute and used["first"]:
            refill = max(0.0, 60 - (now - used["first"]).total_seconds())
    recent = Variation.objects.filter(status=Status.COMPLETED, inference_ms__isnull=False).order_by("-completed_at")
    durations = [ms / 1000 for ms in recent.values_list("inference_ms", flat=True)[:20]]
    budget = settings.FLUXSITE_MONTHLY_BUDGET_USD
    return QueueState(
        queued=list(Variation.objects.filter(status=Status.QUEUED).order_by("created_at").values_list("pk", flat=True)[:1000]),
        in_flight=Variation.objects.filter(holding).count(),
        refusal=ApiKeyRefusal.for_current_key(),
        budget_reached=bool(budget) and costs.spent_this_month() >= budget,
        refill_seconds=refill,
        typical_seconds=statistics.median(durations) if durations else TYPICAL_SECONDS,
        at=time.monotonic(),
    )


def why_waiting(job, state=None):
    """{position, reason, eta_seconds} for a job that has not gone out (eta None: it waits on a person),
    or None for one that has."""
    if job.status == Status.SUBMITTING:
        return {"position": 0, "reason": "Being sent to WaveSpeed.", "eta_seconds": 0}
    if job.status != Status.QUEUED:
        return None
    state = state or queue_state()
    position = state.queued.index(job.pk) + 1 if job.pk in state.queued else len(state.queued) + 1
    cap = settings.WAVESPEED_MAX_CONCURRENCY
    reason, eta = _limit(job, state, position, cap)
    return {"position": position, "reason": reason, "eta_seconds": None if eta is None else math.ceil(eta)}


def _limit(job, state, position, cap):
    """(what the job waits on, seconds until it should start or None)."""
    if not settings.WAVESPEED_API_KEY:
        return "No WaveSpeed API key is set: an admin must set WAVESPEED_API_KEY.", None
    if state.refusal:
        return f"Waiting until WaveSpeed accepts the key again: {state.refusal.message}", None
    if state.budget_reached:
        return "This month's WaveSpeed budget is reached.", _until_next_month()
    if settings.FLUXSITE_MONTHLY_BUDGET_USD and costs.estimate(job) is None:
        return "Its price is unknown and a monthly budget is set: it waits until WaveSpeed quotes one.", None
    waves = math.ceil(position / max(cap, 1))
    if state.in_flight >= cap:
        return f"{state.in_flight} of {cap} in flight.", waves * state.typical_seconds
    if state.refill_seconds:
        return f"The per-minute budget refills in {math.ceil(state.refill_seconds)} s.", state.refill_seconds
    if position > 1:
        return f"Behind {position - 1} job{'s' if position > 2 else ''} in the queue.", (waves - 1) * state.typical_seconds
    return "Next in line.", 0


def _until_next_month():
    start = costs.month_start()
    following = (start + timedelta(days=32)).replace(day=1)
    return (following - timezone.now()).total_seconds()
