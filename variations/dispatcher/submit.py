"""Sending jobs: claim queued ones within WaveSpeed's limits and the budget, upload the source when
WaveSpeed no longer has it, submit. What each answer does to the job is in outcomes.py.

Submits go out in bursts: every job a look can send is claimed at one moment (one submitted_at) and
sent in parallel, and the next burst waits until each submit of this one has ended. So WaveSpeed made
the tasks of earlier bursts first, which is what lets reconcile.py settle a submit that got no answer
by order; within a burst the order is unknown, and each submit's webhook URL names its job instead."""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q, Sum
from django.utils import timezone

import wavespeed_api as wavespeed

from .. import costs, ledger
from ..models import IN_FLIGHT_STATUSES, TRANSITIONS, Status, Variation
from .outcomes import OUTCOMES, Answer, Stage, answer_to, apply

log = logging.getLogger(__name__)

MAX_SUBMIT_PAUSE = 30.0  # seconds: the longest back-off between submits after errors


class UploadFailed(Exception):
    """WaveSpeed refused or failed the upload of the source (wraps its WaveSpeedError)."""

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


def webhook_url(job=None):
    """The webhook endpoint, or "" without a public URL. With `job`, tagged with the job and its attempt, so a
    delivery for a task whose submit got no answer still tells whose it is (views/webhooks.py)."""
    public = settings.FLUXSITE_PUBLIC_URL
    if not (public.startswith("https://") or (public and settings.FLUXSITE_WEBHOOK_ALLOW_HTTP)):
        return ""
    tag = f"?job={job.pk}&attempt={job.submit_attempts}" if job is not None else ""
    return f"{public}/webhooks/wavespeed{tag}"


def window_opens(since, used, needed, per_minute):
    """When (time.monotonic()) enough of the images submitted since `since` (`used` of them) have left the
    minute's window for `needed` more to fit."""
    window = Variation.objects.filter(submitted_at__gte=since).order_by("submitted_at")
    for submitted_at, images in window.values_list("submitted_at", "num_images"):
        used -= images
        if used + needed <= per_minute:
            leaves = submitted_at + timedelta(seconds=60.005) - timezone.now()  # just past its minute
            return time.monotonic() + max(leaves.total_seconds(), 0.0)
    return time.monotonic()


class NotSent(Exception):
    """The job may not go out now (no price with a budget set, or over the budget): `answer` at Stage.BUDGET."""

    def __init__(self, answer, message=""):
        super().__init__(message)
        self.answer = answer
        self.message = message


def claim(jobs, burst):
    """Claim queued `jobs` as one burst: Stage.CLAIM's outcome (SUBMITTING, the claim moment `burst`, one more
    attempt) with the price the app can tell without asking WaveSpeed (WaveSpeed's fresh quote comes in the
    submit thread, Submits.price), in one conditional UPDATE per price instead of two writes a job. Each row
    changes only if it is still queued, as Variation.move_to would have it; the jobs claimed are those that
    carry the burst's moment afterwards (a cancel since leaves it, and ACCEPTED_AFTER_CANCEL deletes the
    task). Returns them, as they now stand."""
    outcome = OUTCOMES[Stage.CLAIM, Answer.SLOT_FREE]
    if outcome.status not in TRANSITIONS[Status.QUEUED]:
        raise ValueError(f"a job may not go from {Status.QUEUED} to {outcome.status}")
    prices = {}  # price -> jobs
    for job in jobs:
        estimated = costs.estimate(job)
        prices.setdefault(estimated[0] if estimated else None, []).append(job)
    for price, group in prices.items():
        fields = {"status": outcome.status, "submitted_at": burst, "submit_attempts": F("submit_attempts") + 1}
        if price is not None:
            fields["cost_usd"] = price
        Variation.objects.filter(pk__in=[job.pk for job in group], status=Status.QUEUED).update(**fields)
    taken = set(Variation.objects.filter(pk__in=[job.pk for job in jobs], submitted_at=burst).values_list("pk", flat=True))
    for price, group in prices.items():
        for job in group:
            if job.pk in taken:
                job.status, job.submitted_at, job.submit_attempts = outcome.status, burst, job.submit_attempts + 1
                job.cost_usd = job.cost_usd if price is None else price
    return [job for job in jobs if job.pk in taken]


def admit(job):
    """For a job just claimed: send it only if its price fits this month's budget. False, having failed the
    job saying why, when it does not."""
    refusal = costs.budget_refusal(job, job.cost_usd)
    if refusal:
        apply(job, Stage.BUDGET, Answer.OVER_BUDGET, message=refusal)
    return not refusal


class Submits:
    """The submit stage of one dispatcher: which jobs go out now, and the pool work that sends each."""

    def __init__(self, loop):
        self.loop = loop
        self.sending = set()  # ids of jobs whose submit POST is under way
        self.paused_until = 0.0
        self.pause_seconds = 1.0
        self.upload_locks = {}
        self.uploaded_urls = {}  # source id -> URL uploaded by a submit under way (then saved on the Source)
        self.window_opens_at = 0.0  # time.monotonic() when the per-minute window lets the next job go (the loop wakes)

    def send_queued(self, followed=None):
        """Claim, as one burst, the oldest queued jobs that fit the concurrency cap, the per-minute limit,
        the budget and FLUXSITE_SUBMIT_PARALLELISM (0: no cap of its own), once the last burst has ended.
        `followed`: the pass's look (Dispatcher.look), which tells the slots taken without a query of its own."""
        if time.monotonic() < self.window_opens_at:
            return  # the per-minute window has no room for the next job yet: the loop wakes when it has
        self.window_opens_at = 0.0
        if self.sending or self.loop.key_refused or time.monotonic() < self.paused_until:
            return
        if followed is None:
            in_flight = Variation.objects.filter(Q(status__in=IN_FLIGHT_STATUSES) | Q(delete_pending=True)).count()
        else:
            in_flight = sum(1 for job in followed if job.status in IN_FLIGHT_STATUSES or job.delete_pending)
        free = settings.WAVESPEED_MAX_CONCURRENCY - in_flight
        if settings.FLUXSITE_SUBMIT_PARALLELISM:
            free = min(free, settings.FLUXSITE_SUBMIT_PARALLELISM)
        if free <= 0:
            return
        queued = Variation.objects.filter(status=Status.QUEUED).select_related("source", "owner").order_by("created_at")
        queued = list(queued[:free])
        if not queued:
            return
        per_minute = settings.WAVESPEED_MAX_PER_MINUTE
        used = 0
        if per_minute:
            window = timezone.now() - timedelta(seconds=60)
            used = Variation.objects.filter(submitted_at__gte=window).aggregate(n=Sum("num_images"))["n"] or 0
        burst = timezone.now()  # one claim moment: reconcile.settle reads equal times as one burst
        fitting = []
        for job in queued:
            if per_minute and used + job.num_images > per_minute:
                # Jobs go out in order: the next one waits for the window to move, and the loop wakes just then.
                self.window_opens_at = window_opens(window, used, job.num_images, per_minute)
                break
            used += job.num_images
            fitting.append(job)
        # With a monthly budget each job is weighed against the jobs claimed before it only, in the queue's order.
        for batch in [[job] for job in fitting] if settings.FLUXSITE_MONTHLY_BUDGET_USD else [fitting]:
            for job in claim(batch, burst):
                if admit(job):
                    self.sending.add(job.pk)
                    self.loop.launch(self.send, self.on_sent, job)

    def price(self, job):
        """(price, quoted) in a pool thread: WaveSpeed's quote, else the estimate the claim recorded. Money fails
        closed: with a budget set, a job without any price, or over the budget at WaveSpeed's quote, is NotSent."""
        quote = costs.fetch_price(job)
        price = job.cost_usd if quote is None else quote
        if settings.FLUXSITE_MONTHLY_BUDGET_USD:
            if price is None:
                raise NotSent(Answer.PRICE_UNKNOWN)
            refusal = costs.budget_refusal(job, price, settle=False) if price != job.cost_usd else ""
            if refusal:
                raise NotSent(Answer.OVER_BUDGET, refusal)
        return price, quote is not None

    def send(self, job):
        """In a pool thread: price the job, upload the source if WaveSpeed no longer has it, then submit."""
        price, quoted = self.price(job)
        source = job.source
        uploaded = ""
        # Jobs of one source submitted together share one upload.
        with self.upload_locks.setdefault(source.pk, threading.Lock()):
            image_url = self.uploaded_urls.get(source.pk) or source.valid_wavespeed_url()
            if not image_url:
                with source.image.open("rb") as fh:
                    data = fh.read()
                try:
                    uploaded = image_url = self.loop.client().upload_media(
                        f"{source.sha256[:16]}.{source.extension}", data, source.content_type
                    )
                except wavespeed.WaveSpeedError as exc:
                    raise UploadFailed(exc) from exc
                self.uploaded_urls[source.pk] = image_url
        return uploaded, price, quoted, self.loop.client().submit(image_url, job.params(), webhook_url(job))

    def on_sent(self, job, future):
        self.sending.discard(job.pk)
        self.window_opens_at = 0.0  # a job not sent gives its place in the window back: read the window again
        try:
            uploaded, price, quoted, prediction = future.result()
        except NotSent as exc:
            apply(job, Stage.BUDGET, exc.answer, effects=self.loop, message=exc.message)
            return
        except UploadFailed as exc:
            apply(job, Stage.UPLOAD, answer_to(exc.cause), effects=self.loop, message=exc.cause.message, kind=exc.cause.kind)
            return
        except wavespeed.WaveSpeedError as exc:
            answer = answer_to(exc)
            if answer is Answer.UNAUTHORIZED and self.loop.key_refused:
                answer = Answer.UNAUTHORIZED_AGAIN
            apply(job, Stage.SUBMIT, answer, effects=self.loop, message=exc.message, kind=exc.kind)
            return
        except Exception as exc:  # storage trouble reading the source, or a bug: the job must not hang
            log.exception("submit of job %s failed", job.pk)
            apply(job, Stage.SUBMIT, Answer.LOCAL_FAILURE, effects=self.loop, message=str(exc))
            return
        self.pause_seconds = 1.0
        self.accepted(job, uploaded, price, quoted, prediction)

    def accepted(self, job, uploaded, price, quoted, prediction):
        now = timezone.now()
        if price != job.cost_usd:  # the claim wrote the estimate; WaveSpeed's quote differs
            costs.record_price(job, price)
        if uploaded:  # from now on the Source row holds it, and a 1402 can make it forget it
            job.source.remember_upload(uploaded, at=now)
            self.uploaded_urls.pop(job.source_id, None)
        hooked = bool(webhook_url())
        moved = apply(
            job, Stage.SUBMIT, Answer.ACCEPTED, prediction_id=prediction.id, submitted_at=now, via_webhook=hooked,
            poll_gap=self.loop.timing.first_poll_delay(job, hooked),
        )
        # Not moved: cancelled while the submit was under way (delete it at WaveSpeed), unless the task's
        # tagged webhook came first and settled the job with it (reconcile.settle_tagged).
        if not moved and not Variation.objects.filter(pk=job.pk, prediction_id=prediction.id).exists():
            apply(job, Stage.SUBMIT, Answer.ACCEPTED_AFTER_CANCEL, prediction_id=prediction.id)
        job.prediction_id = prediction.id
        ledger.charge(job, quoted)  # WaveSpeed took it: charged, whatever happens to the job now
        if moved and prediction.finished:
            self.loop.follows.record(job, prediction)

    def pause(self):
        """Back off before the next submit, twice as long each time errors follow each other."""
        self.paused_until = time.monotonic() + self.pause_seconds
        self.pause_seconds = min(self.pause_seconds * 2, MAX_SUBMIT_PAUSE)
