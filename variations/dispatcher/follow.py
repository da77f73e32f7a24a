"""Following predictions at WaveSpeed to their end: polls, results (from a poll, the submit's answer or
a webhook), predictions that run too long, and deletes of those no job wants any more."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

import wavespeed_api as wavespeed

from .. import ledger
from ..models import ErrorCode, Status, Variation
from .outcomes import MAX_DELETE_ATTEMPTS, OUTCOMES, Answer, Stage, answer_to, apply, apply_together, result_answer

log = logging.getLogger(__name__)

TRANSIENT = (Answer.SERVER_ERROR, Answer.RATE_LIMITED, Answer.MALFORMED)  # worth another try later


def record_result(job, prediction, **counted):
    """Move a PROCESSING job on from its finished prediction. `counted`: poll_count when a poll saw it.
    False if the job had moved on meanwhile (a cancel, or the same result by another way)."""
    answer = result_answer(prediction, job)
    if answer is Answer.MEDIA_UNREADABLE:
        job.source.forget_upload(job.submitted_at)
    moved = apply(
        job, Stage.RESULT, answer,
        finished_at=timezone.now(),
        inference_ms=prediction.inference_ms,
        remote_output_urls=prediction.outputs,
        remote_nsfw=prediction.has_nsfw_contents,
        error_code=prediction.error_code or ErrorCode.TASK_FAILED,
        message=prediction.error or "WaveSpeed failed the prediction.",
        **counted,
    )
    if moved and answer is not Answer.COMPLETED:  # failed, cancelled or timed out there: refunded
        ledger.refund(job, prediction.id)
    return moved


class Follows:
    """The follow stage of one dispatcher: polls due, results, timeouts and deletes."""

    def __init__(self, loop):
        self.loop = loop
        self.next_poll_due = None  # when the next poll falls due (None: none planned)
        self.delete_retry_at = {}
        self.delete_attempts = {}  # job id -> deletes that failed for now
        self.running = []  # (job, facts) of polls that found the prediction running, until write_running

    def poll_due(self, followed):
        """Poll the predictions whose time has come, and note when the next poll or store retry is due (the loop
        wakes then). `followed`: the pass's look (Dispatcher.look); its jobs are read only when one is due."""
        now = timezone.now()
        # A store retry (STORING, next_poll_at after a failed download) wakes the loop too.
        later = [job.next_poll_at for job in followed if job.status in (Status.PROCESSING, Status.STORING)
                 and job.next_poll_at is not None and job.next_poll_at > now]
        self.next_poll_due = min(later, default=None)
        room = self.loop.threads * 2 - len(self.loop.futures)
        due = any(job.status == Status.PROCESSING and job.next_poll_at is not None and job.next_poll_at <= now
                  and job.pk not in self.loop.busy for job in followed)
        if room <= 0 or not due:
            return
        following = Variation.objects.filter(status=Status.PROCESSING)
        for job in following.filter(next_poll_at__lte=now).exclude(pk__in=self.loop.busy).order_by("next_poll_at")[:room]:
            self.loop.launch(self.poll, self.on_polled, job)

    def poll(self, job):
        return self.loop.client().get_result(job.prediction_id)

    def on_polled(self, job, future):
        polled = {"poll_count": job.poll_count + 1}
        try:
            prediction = future.result()
        except wavespeed.WaveSpeedError as exc:
            log.info("poll of job %s failed: %s", job.pk, exc.message)
            gap = self.loop.timing.next_poll_delay(job)
            apply(job, Stage.POLL, answer_to(exc), effects=self.loop, message=exc.message, kind=exc.kind, poll_gap=gap, **polled)
            return
        if prediction.finished:
            self.record(job, prediction, **polled)
        else:  # written with the others of this collect (write_running)
            self.running.append((job, {"poll_gap": self.loop.timing.next_poll_delay(job), **polled}))

    def write_running(self):
        """Write the polls that found their predictions still running, all those of one collect in one UPDATE."""
        running, self.running = self.running, []
        apply_together(Stage.POLL, Answer.RUNNING, running)

    def record(self, job, prediction, **counted):
        """Record a finished prediction, and learn from its duration when to poll the next ones."""
        record_result(job, prediction, **counted)
        if job.status == Status.STORING:
            self.loop.timing.learn(job, prediction.inference_ms)

    def expire_overdue(self, followed):
        timeout = settings.WAVESPEED_PREDICTION_TIMEOUT
        limit = timezone.now() - timedelta(seconds=timeout)
        if not any(job.status == Status.PROCESSING and job.submitted_at is not None and job.submitted_at < limit
                   and job.pk not in self.loop.busy for job in followed):
            return
        for job in Variation.objects.filter(status=Status.PROCESSING, submitted_at__lt=limit).exclude(pk__in=self.loop.busy):
            apply(job, Stage.TIMEOUT, Answer.OVERDUE, timeout=timeout)

    def send_deletes(self, followed):
        now = time.monotonic()
        if not any(job.delete_pending and job.prediction_id and job.pk not in self.loop.busy
                   and self.delete_retry_at.get(job.pk, 0) <= now for job in followed):
            return
        pending = Variation.objects.filter(delete_pending=True).exclude(prediction_id="").exclude(pk__in=self.loop.busy)
        for job in pending:
            if self.delete_retry_at.get(job.pk, 0) <= now:
                self.loop.launch(self.delete, self.on_deleted, job)

    def delete(self, job):
        return self.loop.client().delete_prediction(job.prediction_id)

    def on_deleted(self, job, future):
        try:
            future.result()
        except wavespeed.WaveSpeedError as exc:
            attempts = self.delete_attempts.get(job.pk, 0) + 1
            if answer_to(exc) in TRANSIENT and attempts < MAX_DELETE_ATTEMPTS:
                log.info("delete of prediction %s failed for now: %s", job.prediction_id, exc.message)
                self.delete_attempts[job.pk] = attempts
                retry_after = OUTCOMES[Stage.DELETE, Answer.NOT_DELETED].retry_after
                self.delete_retry_at[job.pk] = time.monotonic() + retry_after
                return
            log.warning("WaveSpeed did not delete prediction %s; letting it go: %s", job.prediction_id, exc.message)
            answer = Answer.DELETE_GIVEN_UP
        else:
            answer = Answer.DELETED
        self.delete_retry_at.pop(job.pk, None)
        self.delete_attempts.pop(job.pk, None)
        apply(job, Stage.DELETE, answer)
