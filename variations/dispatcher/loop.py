"""The dispatcher: one loop that submits queued jobs, follows every prediction in flight and stores outputs.

One process at a time holds the dispatcher lease (a conditional update, so it works on SQLite and
PostgreSQL alike) and follows the whole capped set of predictions at once: HTTP runs in a small
thread pool, every database write happens on the loop's own thread, and every change of a job's
status is a conditional update (Variation.move_to). The database, not the broker, says where each
job stands, so a dispatcher that dies is replaced by the next one to take the lease, which carries
every job on from there.

The loop sleeps until something falls due (a poll, a retry, the lease's renewal) or it is woken:
by its pool when HTTP work completes, or by another process through wakeup.notify() (a new job, a
webhook's result, a cancel), with FLUXSITE_WAKE_TIMEOUT as the longest sleep should a signal be lost.
"""

import logging
import os
import resource
import socket
import threading
import time
import uuid
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

import wavespeed_api as wavespeed

from ..connection import report_wavespeed_errors, wavespeed_client
from ..models import TERMINAL_STATUSES, ApiKeyRefusal, DispatcherLease, Status, Variation, key_fingerprint
from . import outcomes
from .follow import Follows
from .reconcile import Reconciler
from .store import Stores
from .submit import Submits
from .timing import PollTiming
from .wakeup import Waker, notify

log = logging.getLogger(__name__)

# Jobs the dispatcher follows (every one but the queued): in flight, being stored, or waiting for a delete.
FOLLOWED = Q(status__in=[Status.SUBMITTING, Status.PROCESSING, Status.STORING]) | Q(delete_pending=True)
Followed = namedtuple("Followed", ["pk", "status", "next_poll_at", "submitted_at", "delete_pending", "prediction_id"])


def wake_dispatcher():
    """Wake the live dispatcher at once (wakeup.notify), or start one if no live one holds the lease.

    A dispatcher that is about to stop releases the lease first and then looks for work once
    more, so a job committed just before this check is never left behind.
    """
    if DispatcherLease.is_live():
        notify()
        return
    async_task("variations.tasks.dispatch", task_name=f"dispatch-{uuid.uuid4().hex[:8]}")


class QueryCount:
    """SQL statements made by the dispatcher's threads: a connection.execute_wrapper in each."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self.lock:
            self.count += 1
        return execute(sql, params, many, context)

    def install(self):
        """Count this thread's statements too (the pool's initializer: its threads live as long as it)."""
        connection.execute_wrappers.append(self)


class Dispatcher:
    """The loop, and what its stages share: the HTTP pool, the jobs with work in it, the API key's
    standing and the poll timing. The stages (submits, follows, stores, reconciler) do the rest."""

    def __init__(self, holder, client_factory=wavespeed_client):
        self.holder = holder
        self.client_factory = client_factory
        self.shared_client = None
        self.client_lock = threading.Lock()
        self.threads = settings.FLUXSITE_DISPATCH_THREADS
        self.queries = QueryCount()
        # Jobs whose pool work this run brought to a final status (a store that completed one, an answer that
        # failed or cancelled one), for the stats line. Jobs ended with no pool work (a timeout, a budget
        # refusal at claim) or by the web process (a webhook's failure, a cancel) are not counted.
        self.finished = 0
        self.passes = 0  # loop passes, for the stats line
        self.pool = ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="wavespeed", initializer=self.queries.install
        )
        self.waker = Waker()
        self.futures = {}  # Future -> (on_done, job)
        self.busy = set()  # ids of jobs with work in the pool
        self.key_refused = False
        recent = Variation.objects.filter(status=Status.COMPLETED, inference_ms__isnull=False).order_by("-completed_at")
        self.timing = PollTiming(reversed(recent[:20]))
        self.renewed_at = time.monotonic()
        self.submits = Submits(self)
        self.follows = Follows(self)
        self.stores = Stores(self)
        self.reconciler = Reconciler(self)

    def run(self, seconds):
        """Work until nothing is left or `seconds` have passed, then log the run's cost (stats)."""
        started, cpu = time.monotonic(), cpu_seconds()
        with connection.execute_wrapper(self.queries):
            try:
                self.loop(started + seconds)
            finally:
                self.waker.close()
        log.info(
            "dispatcher run: seconds=%.3f jobs=%d queries=%d cpu_seconds=%.3f passes=%d",
            time.monotonic() - started, self.finished, self.queries.count, cpu_seconds() - cpu, self.passes,
        )

    def loop(self, deadline):
        self.waker.start()
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
                    followed = self.look()
                    self.passes += 1
                    self.follows.send_deletes(followed)
                    self.follows.expire_overdue(followed)
                    self.submits.send_queued(followed)
                    self.follows.poll_due(followed)
                    self.stores.store_finished(followed)
                    self.reconciler.settle_unanswered()
                if not self.futures and (now >= deadline or not self.has_work()):
                    break
                self.waker.wait(self.pause(deadline))
        finally:
            self.pool.shutdown(wait=True)
            self.collect()
            report_wavespeed_errors()

    def look(self):
        """One query a pass: what each stage needs to know whether it has anything to do (a stage queries its
        jobs only then). Bounded by the concurrency cap, so its cost does not grow with the queue."""
        return list(Variation.objects.filter(FOLLOWED).values_list(*Followed._fields, named=True))

    def launch(self, work, on_done, job, *args):
        """Run `work(job, *args)` in the pool; `on_done(job, future)` runs on the loop's thread after."""
        self.busy.add(job.pk)
        future = self.pool.submit(work, job, *args)
        self.futures[future] = (on_done, job)
        future.add_done_callback(lambda _: self.waker.set())

    def collect(self):
        for future in [f for f in self.futures if f.done()]:
            on_done, job = self.futures.pop(future)
            self.busy.discard(job.pk)
            status = job.status
            try:
                on_done(job, future)
            except Exception:
                log.exception("dispatcher could not record the outcome for job %s", job.pk)
            if job.status != status and job.status in TERMINAL_STATUSES:
                self.finished += 1
        try:
            self.follows.write_running()
        except Exception:
            log.exception("dispatcher could not record polls of running predictions")

    def client(self):
        """One client for every thread: its session's keep-alive pool holds a connection per pool thread."""
        with self.client_lock:
            if self.shared_client is None:
                self.shared_client = self.client_factory()
            return self.shared_client

    def has_work(self):
        return work_remains(include_queued=not self.key_refused)

    def pause(self, deadline):
        """How long the loop may sleep unless woken: until the next poll, delete retry, end of a submit pause or
        room in the per-minute window falls due, the lease needs renewing or the run ends; at most
        FLUXSITE_WAKE_TIMEOUT."""
        now = time.monotonic()
        later = [deadline, self.renewed_at + settings.FLUXSITE_LEASE_SECONDS / 4, self.submits.paused_until,
                 self.submits.window_opens_at]
        due = [settings.FLUXSITE_WAKE_TIMEOUT]
        due += [at - now for at in (*later, *self.follows.delete_retry_at.values()) if at > now]
        if self.follows.next_poll_due is not None:
            due.append((self.follows.next_poll_due - timezone.now()).total_seconds())
        return max(min(due), 0.0)

    # --- start-up -------------------------------------------------------------------------------

    def forget_lost_cancels(self):
        """A cancel that came while a dead dispatcher's submit was under way: no prediction id to delete."""
        Variation.objects.filter(delete_pending=True, prediction_id="").update(delete_pending=False)

    def check_key(self):
        """Refuse to submit with a key WaveSpeed refused, until it works again and the balance is above
        zero (checked each KEY_RECHECK_SECONDS)."""
        refusal = ApiKeyRefusal.for_current_key()
        self.key_refused = refusal is not None or not settings.WAVESPEED_API_KEY
        if refusal and timezone.now() - refusal.checked_at > timedelta(seconds=outcomes.KEY_RECHECK_SECONDS):
            try:
                balance = self.client().balance()
            except wavespeed.Unauthorized:
                balance = None
            except wavespeed.WaveSpeedError:
                return
            if balance is None or balance <= 0:  # still refused, or still nothing to pay with
                ApiKeyRefusal.objects.filter(pk=refusal.pk).update(checked_at=timezone.now())
                return
            log.info("WaveSpeed accepts the API key again; submits resume")
            refusal.delete()
            self.key_refused = False

    # --- the effects an outcome may have on the dispatcher itself (outcomes.apply) ----------------

    def refuse_key(self, message, kind):
        """Hold every submit: WaveSpeed refused the key (401), its account (403) or a submit for lack of credit."""
        kind = kind if kind in ApiKeyRefusal.Kind.values else ApiKeyRefusal.Kind.UNAUTHORIZED
        log.error("WaveSpeed refused (%s); no more submits until it works: %s", kind, message)
        ApiKeyRefusal.objects.update_or_create(
            fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY),
            defaults={"kind": kind, "message": message, "refused_at": timezone.now(), "checked_at": timezone.now()},
        )
        self.key_refused = True

    def pause_submits(self):
        self.submits.pause()


def cpu_seconds():
    """This process's CPU time so far (user + system): the worker runs only the dispatcher while it does."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def work_remains(include_queued=True):
    """Is any job waiting for the dispatcher? Queued jobs do not count while WaveSpeed refuses the key,
    nor without a key at all (they wait, untouched, until one is set)."""
    active = FOLLOWED
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
