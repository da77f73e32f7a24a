"""The dispatcher sleeps until something is due or another process wakes it (variations/dispatcher/wakeup.py),
and says at the end of each run what the run cost.

The wake-up tests set the safety timeout far beyond the run, so only the signal can make the dispatcher act in
time. The local socket runs everywhere; PostgreSQL LISTEN/NOTIFY and Redis pub/sub run in the PostgreSQL + Redis
stage (`make test-scale`) and are skipped, saying why, without those servers.
"""

import hashlib
import hmac
import json
import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone

from tests import servers
from tests.factories import make_job, run_dispatcher_here
from variations import dispatcher
from variations.dispatcher import wakeup
from variations.dispatcher.loop import QueryCount
from variations.models import DispatcherLease, Status, Variation
from variations.params import VariationParams
from variations.services import jobs as job_services

HOLDER = "wakeup-test"
SAFETY = 30.0  # seconds: longer than any run here, so a wake-up that came in time came by the signal
RUN = 3.0  # seconds each threaded run lasts
STATS = re.compile(r"^dispatcher run: seconds=(\d+\.\d+) jobs=(\d+) queries=(\d+) cpu_seconds=(\d+\.\d+) passes=(\d+)$")


@pytest.fixture
def sleepy(settings, tmp_path, fake_wavespeed):
    """The dispatcher's safety timeout and lease renewal far away; its socket in this test's data directory."""
    settings.FLUXSITE_WAKE_TIMEOUT = SAFETY
    settings.FLUXSITE_LEASE_SECONDS = 4 * SAFETY
    settings.DATA_DIR = tmp_path
    return fake_wavespeed


def use_signal(settings, kind):
    """Point notify() and the waiter at `kind`, or skip (loudly) where its server is not here."""
    settings.FLUXSITE_WAKE_SIGNAL = kind
    if kind == "postgres" and connection.vendor != "postgresql":
        pytest.skip(f"WAKE-UP BY POSTGRESQL NOT TESTED: the database is {connection.vendor}")
    if kind == "redis":
        settings.REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        settings.FLUXSITE_QUEUE_NAME = servers.new_queue_name()  # runs beside this one never hear it
        problem = servers.redis_unreachable(settings.REDIS_URL)
        if problem:
            pytest.skip(f"WAKE-UP BY REDIS NOT TESTED: {problem}")


SIGNALS = [
    "socket",
    pytest.param("postgres", marks=pytest.mark.scale),
    pytest.param("redis", marks=pytest.mark.scale),
]


def in_thread(seconds):
    """Hold the lease and run the dispatcher in a thread (as a worker would, beside this "web process")."""
    assert DispatcherLease.acquire(HOLDER, 120)

    def run():
        try:
            dispatcher.Dispatcher(HOLDER).run(seconds)
        finally:
            DispatcherLease.release(HOLDER)
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def waiting_for_a_webhook(source, member):
    """A job whose prediction runs at WaveSpeed with its first poll a minute away: the dispatcher has work
    in flight, so it sleeps rather than stop."""
    job = job_services.create_variation(source, VariationParams(), member)
    job.move_to(Status.SUBMITTING, submitted_at=timezone.now())
    job.move_to(Status.PROCESSING, prediction_id=uuid.uuid4().hex, via_webhook=True,
                next_poll_at=timezone.now() + timedelta(seconds=60))
    return job


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", SIGNALS)
def test_a_new_job_wakes_a_sleeping_dispatcher_at_once(settings, sleepy, source, member, kind):
    use_signal(settings, kind)
    waiting_for_a_webhook(source, member)
    thread = in_thread(RUN)
    time.sleep(0.5)  # the dispatcher has looked and sleeps

    queued_at = timezone.now()
    job = job_services.create_variation(source, VariationParams(), member)  # wakes it on commit
    thread.join(RUN + 5)

    job.refresh_from_db()
    assert job.submitted_at is not None, "the new job waited for the next look"
    assert (job.submitted_at - queued_at).total_seconds() < 0.5


def signed_delivery(client, secret, prediction):
    body = json.dumps(prediction).encode()
    webhook_id, timestamp = f"msg_{uuid.uuid4().hex[:8]}", str(int(time.time()))
    key = secret.removeprefix("whsec_").encode()
    signature = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/wavespeed", body, content_type="application/json",
        headers={"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": f"v3,{signature}"},
    )


def finished_prediction(simulator):
    """The one prediction the simulator has, once it has finished, as WaveSpeed's webhook carries it."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        finished = [pid for pid, p in simulator.stats()["predictions"].items() if p["finished_at"]]
        if finished:
            answer = requests.get(
                f"{simulator.base_url}/api/v3/predictions/{finished[0]}/result",
                headers={"Authorization": "Bearer test-key"}, timeout=5,
            )
            return answer.json()["data"]
        time.sleep(0.05)
    raise AssertionError("the simulator never finished the prediction")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", SIGNALS)
def test_a_webhooks_result_is_stored_at_once(settings, sleepy, client, source, member, kind):
    """The web process applies the webhook; the dispatcher, asleep with its next poll far off, stores the
    outputs at once instead of at its next look."""
    use_signal(settings, kind)
    settings.FLUXSITE_PUBLIC_URL = "http://127.0.0.1:9"  # the simulator's own deliveries go nowhere
    settings.FLUXSITE_WEBHOOK_ALLOW_HTTP = True
    settings.WAVESPEED_WEBHOOK_SECRET = sleepy.config.webhook_secret
    job = job_services.create_variation(source, VariationParams(num_images=2), member)
    thread = in_thread(RUN)
    prediction = finished_prediction(sleepy)
    time.sleep(0.3)  # the submit's answer is recorded; the first poll is seconds away

    delivered_at = timezone.now()
    assert signed_delivery(client, settings.WAVESPEED_WEBHOOK_SECRET, prediction).status_code == 200
    thread.join(RUN + 5)

    job.refresh_from_db()
    assert job.status == Status.COMPLETED, "the outputs waited for the next look"
    assert (job.completed_at - delivered_at).total_seconds() < 1.0
    assert job.outputs.count() == 2 and job.poll_count == 0


def test_notify_with_nobody_listening_neither_fails_nor_waits(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    for kind in ("socket", "redis", "off"):
        settings.FLUXSITE_WAKE_SIGNAL = kind
        started = time.monotonic()
        wakeup.notify()
        assert time.monotonic() - started < wakeup.SEND_TIMEOUT + 0.2


def test_the_waiter_is_woken_by_a_signal_and_by_its_own_pool(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.FLUXSITE_WAKE_SIGNAL = "socket"
    waker = wakeup.Waker().start()
    try:
        assert not waker.wait(0.05)
        wakeup.notify()
        started = time.monotonic()
        assert waker.wait(SAFETY) and time.monotonic() - started < 0.5
        threading.Timer(0.05, waker.set).start()  # a pool future's done-callback
        assert waker.wait(SAFETY)
    finally:
        waker.close()
    assert not (tmp_path / wakeup.SOCKET_NAME).exists()


@pytest.mark.django_db
def test_a_job_held_by_the_per_minute_window_goes_the_moment_the_window_frees(settings, sleepy, source, member):
    settings.WAVESPEED_MAX_PER_MINUTE = 2
    a_minute_ago = timezone.now() - timedelta(seconds=59)
    earlier = make_job(source, member, num_images=2)  # its two images fill the window for one more second
    Variation.objects.filter(pk=earlier.pk).update(submitted_at=a_minute_ago)
    job = job_services.create_variation(source, VariationParams(num_images=1), member)

    run_dispatcher_here(RUN)

    job.refresh_from_db()
    assert job.submitted_at is not None, "the job waited for the next look after the window freed"
    late = (job.submitted_at - a_minute_ago).total_seconds() - 60
    assert 0 <= late < 0.3


# --- the run's cost ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_run_logs_its_jobs_queries_and_cpu(fake_wavespeed, source, member, caplog):
    for _ in range(3):
        job_services.create_variation(source, VariationParams(), member)

    with caplog.at_level("INFO", logger="variations.dispatcher.loop"):
        run_dispatcher_here(30)

    lines = [STATS.match(r.getMessage()) for r in caplog.records if r.getMessage().startswith("dispatcher run:")]
    assert len(lines) == 1 and lines[0], [r.getMessage() for r in caplog.records]
    seconds, jobs, queries, cpu, passes = (float(value) for value in lines[0].groups())
    assert set(Variation.objects.values_list("status", flat=True)) == {Status.COMPLETED}
    assert jobs == 3 and passes >= 1
    assert 3 * 5 <= queries <= 3 * 200  # each job is claimed, accepted, polled, stored and completed at least
    assert 0.2 <= seconds < 30 and 0 < cpu < seconds * os.cpu_count()


@pytest.mark.django_db(transaction=True)
def test_statements_in_the_pools_threads_are_counted():
    queries = QueryCount()
    with ThreadPoolExecutor(2, initializer=queries.install) as pool:
        pool.submit(lambda: (Variation.objects.count(), connection.close())).result()
    assert queries.count == 1


def test_the_dispatchers_threads_share_one_client_with_a_pool_sized_to_them(settings, db):
    loop = dispatcher.Dispatcher("nobody")
    with ThreadPoolExecutor(3) as pool:
        clients = set(pool.map(lambda _: loop.client(), range(9)))
    loop.pool.shutdown()

    assert clients == {loop.client()}
    adapter = loop.client().session.get_adapter(settings.WAVESPEED_BASE_URL)
    assert adapter._pool_maxsize == settings.FLUXSITE_DISPATCH_THREADS and adapter._pool_block
