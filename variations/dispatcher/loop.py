"""The dispatcher: one loop that submits queued jobs, follows every prediction in flight and stores outputs.

One process at a time holds the dispatcher lease (a conditional update, so it works on SQLite and
PostgreSQL alike) and follows the whole capped set of predictions at once: HTTP runs in a small
thread pool, every database write happens on the loop's own thread, and every change of a job's
status is a conditional update (Variation.move_to). The database, not the broker, says where each
job stands, so a dispatcher that dies is replaced by the next one to take the lease, which carries
every job on from there.
"""

import functools
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

from django.conf import settings
from django.db.models import Min, Q, Sum
from django.utils import timezone
from django_q.tasks import async_task

import wavespeed_api as wavespeed

from .. import costs, models
from ..connection import report_wavespeed_errors, wavespeed_client
from ..models import (
    IN_FLIGHT_STATUSES,
    ApiKeyRefusal,
    DispatcherLease,
    ErrorCode,
    Output,
    Source,
    Status,
    Variation,
    key_fingerprint,
)
from . import reconcile, store
from .timing import PollTiming

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between looks at the database while work is under way
MAX_STORE_ATTEMPTS = 5
KEY_RECHECK_SECONDS = 60


def wake_dispatcher():
    """Start a dispatcher unless a live one holds the lease (it sees new jobs within a tick).

    A dispatcher that is about to stop releases the lease first and then looks for work once
    more, so a job committed just before this check is never left behind.
    """
    if DispatcherLease.is_live():
        return
    async_task("variations.tasks.dispatch", task_name=f"dispatch-{uuid.uuid4().hex[:8]}")


class UploadFailed(Exception):
    """The source could not be uploaded to WaveSpeed (wraps the WaveSpeedError)."""

    def __init__(self, cause):
        super().__init__(str(cause))
        self.cause = cause


def webhook_url():
    public = settings.FLUXSITE_PUBLIC_URL
    if public.startswith("https://") or (public and settings.FLUXSITE_WEBHOOK_ALLOW_HTTP):
        return f"{public}/webhooks/wavespeed"
    return ""


class Dispatcher:
    def __init__(self, holder, client_factory=wavespeed_client):
        self.holder = holder
        self.client_factory = client_factory
        self.local = threading.local()
        self.threads = settings.FLUXSITE_DISPATCH_THREADS
        self.pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="wavespeed")
        self.futures = {}  # Future -> (on_done, job)
        self.busy = set()  # ids of jobs with work in the pool
        self.submit_paused_until = 0.0
        self.submitting = set()  # ids of jobs whose submit POST is under way
        self.next_poll_due = None  # when the next poll falls due (None: none planned)
        self.next_reconcile = 0.0
        self.submit_backoff = 1.0
        self.delete_retry_at = {}
        self.upload_locks = {}
        self.uploaded_urls = {}  # source id -> URL uploaded by this dispatcher (also saved on the Source)
        self.key_refused = False
        recent = Variation.objects.filter(status=Status.COMPLETED, inference_ms__isnull=False).order_by("-completed_at")
        self.timing = PollTiming(reversed(recent[:20]))
        self.renewed_at = time.monotonic()

    # --- the loop -------------------------------------------------------------------------------

    def run(self, seconds):
        """Work until nothing is left or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        self.forget_lost_cancels()
        self.check_key()
        try:
            while True:
                now = time.monotonic()
                if now - self.renewed_at > settings.FLUXSITE_LEASE_SECONDS / 4:
                    if not DispatcherLease.renew(self.holder, settings.FLUXSITE_LEASE_SECONDS):
                        log.warning("dispatcher lease lost; stopping")
                        deadline = now
                    self.renewed_at = now
                    report_wavespeed_errors()
                self.collect()
                if now < deadline:
                    self.send_deletes()
                    self.expire_overdue()
                    self.submit_queued()
                    self.poll_due()
                    self.store_finished()
                    self.reconcile_submits()
                if not self.futures and (now >= deadline or not self.has_work()):
                    break
                if self.futures:
                    wait(list(self.futures), timeout=self.pause(), return_when=FIRST_COMPLETED)
                else:
                    time.sleep(self.pause())
        finally:
            self.pool.shutdown(wait=True)
            self.collect()
            report_wavespeed_errors()

    def launch(self, work, on_done, job, *args):
        self.busy.add(job.pk)
        self.futures[self.pool.submit(work, job, *args)] = (on_done, job)

    def collect(self):
        for future in [f for f in self.futures if f.done()]:
            on_done, job = self.futures.pop(future)
            self.busy.discard(job.pk)
            try:
                on_done(job, future)
            except Exception:
                log.exception("dispatcher could not record the outcome for job %s", job.pk)

    def client(self):
        if not hasattr(self.local, "client"):
            self.local.client = self.client_factory()
        return self.local.client

    def has_work(self):
        return work_remains(include_queued=not self.key_refused)

    # --- start-up ---------------------------------------------------------------------------------

    def forget_lost_cancels(self):
        """A cancel that came while a dead dispatcher's submit was under way: no prediction id to delete."""
        Variation.objects.filter(delete_pending=True, prediction_id="").update(delete_pending=False)

    def check_key(self):
        """Refuse to submit with a key WaveSpeed refused, until it works again (checked each minute)."""
        refusal = ApiKeyRefusal.for_current_key()
        self.key_refused = refusal is not None or not settings.WAVESPEED_API_KEY
        if refusal and timezone.now() - refusal.checked_at > timedelta(seconds=KEY_RECHECK_SECONDS):
            try:
                self.client().balance()
            except wavespeed.Unauthorized:
                ApiKeyRefusal.objects.filter(pk=refusal.pk).update(checked_at=timezone.now())
            except wavespeed.WaveSpeedError:
                pass
            else:
                log.info("WaveSpeed accepts the API key again; submits resume")
                refusal.delete()
                self.key_refused = False

    def refuse_key(self, error):
        log.error("WaveSpeed refused the API key; no more submits until it works: %s", error.message)
        ApiKeyRefusal.objects.update_or_create(
            fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY),
            defaults={"message": error.message, "refused_at": timezone.now(), "checked_at": timezone.now()},
        )
        self.key_refused = True

    # --- submitting -------------------------------------------------------------------------------

    def submit_queued(self):
        if self.key_refused or time.monotonic() < self.submit_paused_until:
            return
        in_flight = Variation.objects.filter(Q(status__in=IN_FLIGHT_STATUSES) | Q(delete_pending=True)).count()
        free = settings.WAVESPEED_MAX_CONCURRENCY - in_flight
        free = min(free, settings.FLUXSITE_SUBMIT_PARALLELISM - len(self.submitting))
        if free <= 0:
            return
        per_minute = settings.WAVESPEED_MAX_PER_MINUTE
        used = 0
        if per_minute:
            window = timezone.now() - timedelta(seconds=60)
            used = Variation.objects.filter(submitted_at__gte=window).aggregate(n=Sum("num_images"))["n"] or 0
        queued = Variation.objects.filter(status=Status.QUEUED).select_related("source").order_by("created_at")
        for job in queued[:free]:
            if per_minute and used + job.num_images > per_minute:
                break  # jobs go out in order: the next one waits for the window to move
            claimed = job.move_to(Status.SUBMITTING, submitted_at=timezone.now(), submit_attempts=job.submit_attempts + 1)
            if claimed and costs.admit(job):  # records the price; refuses a job over the monthly budget
                used += job.num_images
                self.submitting.add(job.pk)
                self.launch(self.do_submit, self.on_submitted, job)

    def do_submit(self, job):
        """In a pool thread: upload the source if WaveSpeed no longer has it, then submit."""
        source = job.source
        uploaded = ""
        # Jobs of one source submitted together share one upload.
        with self.upload_locks.setdefault(source.pk, threading.Lock()):
            image_url = self.uploaded_urls.get(source.pk) or source.valid_wavespeed_url()
            if not image_url:
                try:
                    with source.image.open("rb") as fh:
                        data = fh.read()
                    uploaded = image_url = self.client().upload_media(
                        f"{source.sha256[:16]}.{source.extension}", data, source.content_type
                    )
                except wavespeed.WaveSpeedError as exc:
                    raise UploadFailed(exc) from exc
                self.uploaded_urls[source.pk] = image_url
        price = costs.fetch_price(job)
        return uploaded, price, self.client().submit(image_url, job.params(), webhook_url())

    def on_submitted(self, job, future):
        self.submitting.discard(job.pk)
        try:
            uploaded, price, prediction = future.result()
        except UploadFailed as exc:
            self.submit_refused(job, exc.cause, ErrorCode.UPLOAD, "Upload of the source to WaveSpeed failed")
            return
        except wavespeed.AmbiguousSubmit as exc:
            # It stays SUBMITTING: reconcile_submits asks WaveSpeed's history before anything is re-sent.
            Variation.objects.filter(pk=job.pk, status=Status.SUBMITTING).update(error=f"{exc.message}; checking WaveSpeed")
            return
        except wavespeed.WaveSpeedError as exc:
            self.submit_refused(job, exc, ErrorCode.BAD_REQUEST, "WaveSpeed refused the job")
            return
        except Exception as exc:  # storage trouble reading the source, or a bug: the job must not hang
            log.exception("submit of job %s failed", job.pk)
            self.submit_refused(job, wavespeed.ServerError(str(exc)), ErrorCode.UPLOAD, "Submit failed")
            return
        now = timezone.now()
        self.submit_backoff = 1.0
        costs.record_price(job, price)
        if uploaded:
            Source.objects.filter(pk=job.source_id).update(wavespeed_url=uploaded, wavespeed_uploaded_at=now)
            job.source.wavespeed_url, job.source.wavespeed_uploaded_at = uploaded, now
        hooked = bool(webhook_url())
        moved = job.move_to(
            Status.PROCESSING,
            prediction_id=prediction.id,
            submitted_at=now,
            via_webhook=hooked,
            next_poll_at=now + timedelta(seconds=self.timing.first_poll_delay(job, hooked)),
        )
        if not moved:  # cancelled while the submit was under way: delete it at WaveSpeed
            Variation.objects.filter(pk=job.pk).update(prediction_id=prediction.id, delete_pending=True)
        elif prediction.status in ("completed", "failed"):
            self.apply_result(job, prediction)

    def submit_refused(self, job, error, code, what):
        """WaveSpeed answered the submit (or upload) with an error, so nothing was created there."""
        if isinstance(error, wavespeed.Unauthorized):
            self.refuse_key(error)
            job.move_to(Status.FAILED, error_code=ErrorCode.UNAUTHORIZED, error=f"{what}: {error.message}")
        elif isinstance(error, wavespeed.RateLimited):
            self.pause_submits()  # not an attempt: WaveSpeed only asked us to wait
            job.move_to(Status.QUEUED, submit_attempts=job.submit_attempts - 1, submitted_at=None)
        elif isinstance(error, (wavespeed.ServerError, wavespeed.MalformedResponse)):
            self.pause_submits()
            if job.submit_attempts >= models.MAX_SUBMIT_ATTEMPTS:
                job.move_to(Status.FAILED, error_code=code, error=f"{what} {job.submit_attempts} times: {error.message}")
            else:
                job.move_to(Status.QUEUED, submitted_at=None, error=f"Attempt {job.submit_attempts}: {error.message}")
        else:
            job.move_to(Status.FAILED, error_code=code, error=f"{what}: {error.message}")

    def pause_submits(self):
        self.submit_paused_until = time.monotonic() + self.submit_backoff
        self.submit_backoff = min(self.submit_backoff * 2, 30.0)

    # --- submits without an answer ---------------------------------------------------------------

    def reconcile_submits(self):
        """Settle jobs left SUBMITTING (no answer came, or their dispatcher died mid-submit).

        WaveSpeed's recent history decides: no unknown prediction from that moment means the submit
        never arrived, so the job is queued again; exactly one means it did, and the job follows it.
        Anything less clear fails the job as ambiguous rather than risk paying twice. Submits go
        out one at a time (FLUXSITE_SUBMIT_PARALLELISM), so a crash leaves at most one such job.
        """
        if time.monotonic() < self.next_reconcile:
            return
        self.next_reconcile = time.monotonic() + 5
        settle = timezone.now() - timedelta(seconds=settings.FLUXSITE_SUBMIT_SETTLE_SECONDS)
        limbo = Variation.objects.filter(status=Status.SUBMITTING, submitted_at__lte=settle).exclude(pk__in=self.busy)
        limbo = list(limbo.order_by("submitted_at"))
        if limbo:
            self.busy.update(job.pk for job in limbo[1:])
            self.launch(self.do_list_recent, functools.partial(self.on_listed, limbo=limbo), limbo[0], limbo)

    def do_list_recent(self, first, limbo):
        return reconcile.recent_since(self.client(), first.submitted_at - reconcile.CLOCK_SKEW)

    def on_listed(self, first, future, limbo):
        self.busy.difference_update(job.pk for job in limbo)
        try:
            recent = future.result()
        except wavespeed.WaveSpeedError as exc:
            log.warning("cannot read WaveSpeed's history to settle %d submits: %s", len(limbo), exc.message)
            give_up = timezone.now() - timedelta(seconds=reconcile.GIVE_UP_SECONDS)
            for job in limbo:
                if job.submitted_at < give_up:
                    self.fail_ambiguous(job, "WaveSpeed's history could not be read")
            self.next_reconcile = time.monotonic() + 30
            return
        known = set(Variation.objects.filter(prediction_id__in=[pid for pid, _ in recent]).values_list("prediction_id", flat=True))
        verdicts = reconcile.settle(limbo, [(pid, created) for pid, created in recent if pid not in known])
        for job in limbo:
            verdict = verdicts[job.pk]
            log.info("unanswered submit of job %s: %s %s", job.pk, verdict.action, verdict.prediction_id)
            if verdict.action == "resend":
                job.move_to(Status.QUEUED, submitted_at=None, error="The submit never reached WaveSpeed; sent again.")
            elif verdict.action == "follow":
                job.move_to(Status.PROCESSING, prediction_id=verdict.prediction_id, next_poll_at=timezone.now(), error="")
            else:
                self.fail_ambiguous(job, verdict.reason)

    def fail_ambiguous(self, job, why):
        job.move_to(
            Status.FAILED,
            error_code=ErrorCode.SUBMIT_AMBIGUOUS,
            error=(
                f"The submit got no answer and {why}. WaveSpeed may have run it (and charged it), "
                "so it was not sent again: retry the job to run it."
            ),
        )

    # --- following predictions --------------------------------------------------------------------

    def poll_due(self):
        """Poll the predictions whose time has come, and note when the next one is due (the loop wakes then)."""
        self.next_poll_due = None
        room = self.threads * 2 - len(self.futures)
        if room <= 0:
            return
        now = timezone.now()
        following = Variation.objects.filter(status=Status.PROCESSING)
        for job in following.filter(next_poll_at__lte=now).exclude(pk__in=self.busy).order_by("next_poll_at")[:room]:
            self.launch(self.do_poll, self.on_polled, job)
        self.next_poll_due = following.filter(next_poll_at__gt=now).aggregate(due=Min("next_poll_at"))["due"]

    def pause(self):
        """How long the loop may wait for pool work before looking again: a tick, or less if a poll falls due sooner."""
        if self.next_poll_due is None:
            return TICK
        return min(TICK, max((self.next_poll_due - timezone.now()).total_seconds(), 0.0))

    def do_poll(self, job):
        return self.client().get_result(job.prediction_id)

    def on_polled(self, job, future):
        polls = job.poll_count + 1
        following = Variation.objects.filter(pk=job.pk, status=Status.PROCESSING)
        try:
            prediction = future.result()
        except wavespeed.NotFound:
            job.move_to(Status.FAILED, poll_count=polls, error_code="not_found", error="WaveSpeed no longer has this prediction.")
            return
        except wavespeed.Unauthorized as exc:
            self.refuse_key(exc)
            following.update(poll_count=polls, next_poll_at=timezone.now() + timedelta(seconds=KEY_RECHECK_SECONDS))
            return
        except wavespeed.WaveSpeedError as exc:
            log.info("poll of job %s failed for now: %s", job.pk, exc.message)
            delay = max(self.timing.next_poll_delay(job), 2.0)
            following.update(poll_count=polls, next_poll_at=timezone.now() + timedelta(seconds=delay))
            return
        job.poll_count = polls
        if prediction.status in ("completed", "failed"):
            self.apply_result(job, prediction)
        else:
            following.update(poll_count=polls, next_poll_at=timezone.now() + timedelta(seconds=self.timing.next_poll_delay(job)))

    def apply_result(self, job, prediction):
        """Record a finished prediction (from a poll or the submit answer)."""
        job.record_result(prediction)
        if job.status == Status.STORING:
            self.timing.learn(job, prediction.inference_ms)

    def expire_overdue(self):
        limit = timezone.now() - timedelta(seconds=settings.WAVESPEED_PREDICTION_TIMEOUT)
        for job in Variation.objects.filter(status=Status.PROCESSING, submitted_at__lt=limit).exclude(pk__in=self.busy):
            job.move_to(
                Status.FAILED,
                error_code=ErrorCode.TIMEOUT,
                delete_pending=True,
                error=f"WaveSpeed did not finish the prediction within {settings.WAVESPEED_PREDICTION_TIMEOUT} s.",
            )

    def send_deletes(self):
        now = time.monotonic()
        pending = Variation.objects.filter(delete_pending=True).exclude(prediction_id="").exclude(pk__in=self.busy)
        for job in pending:
            if self.delete_retry_at.get(job.pk, 0) <= now:
                self.launch(self.do_delete, self.on_deleted, job)

    def do_delete(self, job):
        return self.client().delete_prediction(job.prediction_id)

    def on_deleted(self, job, future):
        try:
            future.result()
        except wavespeed.WaveSpeedError as exc:
            log.info("delete of prediction %s failed for now: %s", job.prediction_id, exc.message)
            self.delete_retry_at[job.pk] = time.monotonic() + 10
            return
        self.delete_retry_at.pop(job.pk, None)
        Variation.objects.filter(pk=job.pk).update(delete_pending=False)

    # --- storing outputs --------------------------------------------------------------------------

    def store_finished(self):
        ready = Variation.objects.filter(status=Status.STORING, next_poll_at__lte=timezone.now())
        ready = ready.exclude(pk__in=self.busy).select_related("source").prefetch_related("outputs")
        for job in ready[: self.threads]:
            self.launch(self.do_store, self.on_stored, job, {o.index for o in job.outputs.all()})

    def do_store(self, job, stored_indexes):
        return store.fetch_outputs(self.client(), job, stored_indexes)

    def on_stored(self, job, future):
        try:
            stored, errors = future.result()
        except Exception as exc:  # storage full or unreachable: retry like a failed download
            log.exception("storing outputs of job %s failed", job.pk)
            stored, errors = [], [str(exc)]
        Output.objects.bulk_create(stored, ignore_conflicts=True)
        if not errors:
            job.move_to(Status.COMPLETED, download_attempts=job.download_attempts + 1)
            return
        attempts = job.download_attempts + 1
        if attempts >= MAX_STORE_ATTEMPTS:
            job.move_to(
                Status.FAILED,
                download_attempts=attempts,
                error_code=ErrorCode.DOWNLOAD,
                error=f"Outputs could not be stored after {attempts} attempts: " + "; ".join(errors),
            )
        else:
            Variation.objects.filter(pk=job.pk, status=Status.STORING).update(
                download_attempts=attempts, next_poll_at=timezone.now() + timedelta(seconds=2**attempts)
            )


def work_remains(include_queued=True):
    """Is any job waiting for the dispatcher? Queued jobs do not count while WaveSpeed refuses the key,
    nor without a key at all (they wait, untouched, until one is set)."""
    active = Q(status__in=[Status.SUBMITTING, Status.PROCESSING, Status.STORING]) | Q(delete_pending=True)
    if include_queued and settings.WAVESPEED_API_KEY:
        active |= Q(status=Status.QUEUED)
    return Variation.objects.filter(active).exists()


def lease_holder():
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_dispatcher(seconds=None):
    """Take the lease and run the dispatcher; hand over to a fresh task if work remains. Idempotent."""
    holder = lease_holder()
    if not DispatcherLease.acquire(holder, settings.FLUXSITE_LEASE_SECONDS):
        return "another dispatcher is running"
    try:
        Dispatcher(holder).run(seconds or settings.FLUXSITE_DISPATCH_SECONDS)
    finally:
        DispatcherLease.release(holder)
    if work_remains(include_queued=ApiKeyRefusal.for_current_key() is None):
        wake_dispatcher()
        return "handed over"
    return "done"
