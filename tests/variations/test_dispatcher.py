"""The dispatcher against the simulator over HTTP, run in the test process so each rule can be checked."""

import statistics
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import run_dispatcher_here
from variations.services import jobs as job_services
from variations import dispatcher, images
from variations.dispatcher.follow import record_result
from variations.models import (
    MAX_SUBMIT_ATTEMPTS, ApiKeyRefusal, DispatcherLease, Output, Status, Variation, WaveSpeedErrorCount,
)
from variations.params import VariationParams
from wavespeed_api import take_error_tally

pytestmark = pytest.mark.django_db


def queue(source, owner, count=1, **params):
    return [job_services.create_variation(source, VariationParams(**params), owner) for _ in range(count)]


def run(seconds=30):
    run_dispatcher_here(seconds)


def test_jobs_complete_with_every_output_and_thumbnail_stored(fake_wavespeed, source, member):
    job = queue(source, member, size="512*256", num_images=3, output_format="png", seed=42)[0]

    run()

    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert job.prediction_id and job.submitted_at and job.completed_at and job.inference_ms
    outputs = list(job.outputs.all())
    assert [o.index for o in outputs] == [0, 1, 2]
    for output in outputs:
        data = output.image.read()
        assert (output.width, output.height, output.format) == (512, 256, "PNG")
        assert images.read_parameters(data)["seed"] == 42
        assert output.thumbnail.size > 0
    assert fake_wavespeed.stats()["submits"] == 1


def test_the_concurrency_cap_holds_and_jobs_go_out_in_order(settings, fake_wavespeed, source, member):
    settings.WAVESPEED_MAX_CONCURRENCY = 2
    fake_wavespeed.config.concurrency = 2  # WaveSpeed would refuse a third at once
    jobs = queue(source, member, count=6)

    run()

    stats = fake_wavespeed.stats()
    assert stats["max_in_flight"] <= 2
    assert stats["rejected_429"] == 0
    assert stats["submits"] == 6
    arrived = {pid: p["submitted_at"] for pid, p in stats["predictions"].items()}
    arrival = [arrived[Variation.objects.get(pk=j.pk).prediction_id] for j in jobs]
    # Two at a time may race each other, but no job overtakes one queued two places before it.
    assert all(arrival[i] < arrival[i + 2] for i in range(len(arrival) - 2))
    assert set(Variation.objects.values_list("status", flat=True)) == {Status.COMPLETED}


def test_one_dispatcher_follows_the_whole_capped_set_at_once(settings, fake_wavespeed, source, member):
    """Three predictions of 1 s each finish in about 1 s, not 3: they are polled together."""
    settings.WAVESPEED_MAX_CONCURRENCY = 3
    fake_wavespeed.config.latency = 1.0
    queue(source, member, count=3)
    started = timezone.now()

    run()

    assert (timezone.now() - started).total_seconds() < 2.5
    assert fake_wavespeed.stats()["max_in_flight"] == 3


def test_polling_learns_the_expected_time_and_polls_little(settings, fake_wavespeed, source, member):
    fake_wavespeed.config.latency = 0.8
    settings.WAVESPEED_MAX_CONCURRENCY = 1
    queue(source, member, count=4)

    run()

    polls = list(fake_wavespeed.stats()["polls_by_prediction"].values())
    # The first job polls until it learns the duration; later ones are polled near their finish.
    assert statistics.median(polls[1:]) <= 3
    assert max(polls) <= 8


def test_a_401_fails_that_job_and_stops_further_submits_until_the_key_works(settings, fake_wavespeed, source, member):
    fake_wavespeed.config.api_key = "the-real-key"  # the app sends test-key
    settings.WAVESPEED_MAX_CONCURRENCY = 1
    first, second = queue(source, member, count=2)

    run()

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.FAILED and first.error_code == "unauthorized"
    assert second.status == Status.QUEUED  # held, not failed, while the key is refused
    assert ApiKeyRefusal.for_current_key() is not None
    assert second.submit_attempts == 0  # never tried with the refused key

    settings.WAVESPEED_API_KEY = "the-real-key"  # the key is fixed
    run()
    second.refresh_from_db()
    assert second.status == Status.COMPLETED


def test_without_a_key_jobs_wait_untouched(settings, fake_wavespeed, source, member):
    settings.WAVESPEED_API_KEY = ""
    job = queue(source, member)[0]

    run()

    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.submit_attempts == 0
    assert fake_wavespeed.stats()["uploads"] == fake_wavespeed.stats()["submit_requests"] == 0
    assert not dispatcher.work_remains()  # nothing wakes a dispatcher for it until a key is set


def test_429_means_wait_not_fail(settings, fake_wavespeed, source, member):
    settings.WAVESPEED_MAX_CONCURRENCY = 3
    fake_wavespeed.config.concurrency = 1  # the account allows fewer than the app was told ...
    fake_wavespeed.config.over_concurrency = "refuse"  # ... and answers 429 over it (WaveSpeed itself queues)
    queue(source, member, count=3)

    run()

    assert fake_wavespeed.stats()["rejected_429"] >= 1
    assert set(Variation.objects.values_list("status", flat=True)) == {Status.COMPLETED}
    assert fake_wavespeed.stats()["submits"] == 3


@pytest.mark.parametrize("code", ["1200", "1401", "1403"])
def test_a_failed_prediction_fails_the_job_with_its_code(fake_wavespeed, source, member, code):
    fake_wavespeed.config.fail_rate = 1.0
    fake_wavespeed.config.fail_codes = [int(code)]
    job = queue(source, member)[0]

    run()

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error_code == code and job.error
    assert fake_wavespeed.stats()["submits"] == 1


def test_retryable_task_failures_are_sent_again_a_few_times(fake_wavespeed, source, member):
    fake_wavespeed.config.fail_rate = 1.0
    fake_wavespeed.config.fail_codes = [5003]
    job = queue(source, member)[0]

    run()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_code == "5003"
    assert job.submit_attempts == MAX_SUBMIT_ATTEMPTS
    assert fake_wavespeed.stats()["submits"] == MAX_SUBMIT_ATTEMPTS


def test_transient_poll_and_download_errors_are_retried(fake_wavespeed, source, member, settings):
    fake_wavespeed.config.poll_error_rate = 0.4
    fake_wavespeed.config.malformed_rate = 0.2
    fake_wavespeed.config.download_error_rate = 0.4
    jobs = queue(source, member, count=3, num_images=2)

    run(60)

    for job in jobs:
        job.refresh_from_db()
        assert job.status == Status.COMPLETED
        assert job.outputs.count() == 2
    assert fake_wavespeed.stats()["submits"] == 3


def test_a_prediction_that_never_finishes_times_out_and_is_deleted(settings, fake_wavespeed, source, member):
    settings.WAVESPEED_PREDICTION_TIMEOUT = 1
    fake_wavespeed.config.latency = 30
    job = queue(source, member)[0]

    run()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_code == "timeout"
    assert not job.delete_pending
    assert fake_wavespeed.stats()["deletes"] == 1


def test_outputs_that_cannot_be_downloaded_fail_the_job_clearly(monkeypatch, fake_wavespeed, source, member):
    monkeypatch.setattr("variations.dispatcher.outcomes.MAX_STORE_ATTEMPTS", 2)
    fake_wavespeed.config.download_error_rate = 1.0
    job = queue(source, member)[0]

    run(60)

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_code == "download_failed"
    assert "output 0" in job.error
    assert not Output.objects.filter(variation=job).exists()


def test_a_source_that_cannot_be_read_fails_the_job_and_counts_no_wavespeed_error(fake_wavespeed, source, member):
    """A local failure is retried like a 5xx, but /metrics must not report WaveSpeed 5xx answers that never happened."""
    job = queue(source, member)[0]
    source.image.storage.delete(source.image.name)
    take_error_tally()  # drop what earlier tests left in this process

    run()

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "upload_failed")
    assert job.error.startswith(f"Submit failed {MAX_SUBMIT_ATTEMPTS} times:")
    assert fake_wavespeed.stats()["uploads"] == fake_wavespeed.stats()["submit_requests"] == 0
    assert not WaveSpeedErrorCount.objects.exists()


def test_cancelling_a_running_job_deletes_the_prediction(fake_wavespeed, source, member):
    fake_wavespeed.config.latency = 30
    job = queue(source, member)[0]
    worker = dispatcher.Dispatcher("test")
    worker.submits.send_queued()
    worker.pool.shutdown(wait=True)
    worker.collect()
    job.refresh_from_db()
    assert job.status == Status.PROCESSING

    assert job_services.cancel(job)
    run()

    job.refresh_from_db()
    assert job.status == Status.CANCELLED and not job.delete_pending
    assert fake_wavespeed.stats()["deletes"] == 1


def left_mid_submit(job):
    """As a dispatcher that died between claiming a job and hearing WaveSpeed's answer leaves it."""
    job.move_to(Status.SUBMITTING, submitted_at=timezone.now(), submit_attempts=1)
    return job


def test_a_submit_that_never_reached_wavespeed_is_sent_again(fake_wavespeed, source, member):
    job = left_mid_submit(queue(source, member)[0])

    run()

    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert fake_wavespeed.stats()["submits"] == 1


def test_a_submit_that_reached_wavespeed_is_followed_not_sent_again(fake_wavespeed, source, member):
    job = left_mid_submit(queue(source, member)[0])
    client = dispatcher.Dispatcher("dead").client()
    url = client.upload_media("s.jpg", job.source.image.read(), "image/jpeg")
    landed = client.submit(url, job.params())  # the POST arrived; its answer was lost

    run()

    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert job.prediction_id == landed.id
    assert fake_wavespeed.stats()["submits"] == 1


def test_a_restarted_dispatcher_carries_on_jobs_where_they_were(fake_wavespeed, source, member):
    """One job already at WaveSpeed, one half stored: both finish with no new submit and no duplicate."""
    following, storing = queue(source, member, count=2, num_images=2)
    first = dispatcher.Dispatcher("first")
    for job in (following, storing):
        job.move_to(Status.SUBMITTING)
        first.launch(first.submits.send, first.submits.on_sent, Variation.objects.select_related("source").get(pk=job.pk))
    first.pool.shutdown(wait=True)
    first.collect()  # both now PROCESSING at WaveSpeed; then this dispatcher "dies"
    storing.refresh_from_db()
    time.sleep(0.4)
    prediction = first.client().get_result(storing.prediction_id)
    record_result(storing, prediction)
    done = dispatcher.Dispatcher("half")
    stored, _ = done.stores.fetch(Variation.objects.select_related("source").get(pk=storing.pk), set())
    Output.objects.bulk_create(stored[:1])  # died after storing one of two outputs

    run()

    for job in (following, storing):
        job.refresh_from_db()
        assert job.status == Status.COMPLETED
        assert sorted(job.outputs.values_list("index", flat=True)) == [0, 1]
    assert fake_wavespeed.stats()["submits"] == 2


def test_only_one_dispatcher_holds_the_lease(fake_wavespeed):
    assert DispatcherLease.acquire("one", 10)
    assert not DispatcherLease.acquire("two", 10)
    assert dispatcher.run_dispatcher(seconds=1) == "another dispatcher is running"
    DispatcherLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))  # "one" died
    assert DispatcherLease.acquire("two", 10)
    assert not DispatcherLease.renew("one", 10)


def test_per_minute_limit_holds_back_jobs_in_order(settings, fake_wavespeed, source, member):
    settings.WAVESPEED_MAX_PER_MINUTE = 3
    jobs = queue(source, member, count=2, num_images=2)

    run(3)

    statuses = [Variation.objects.get(pk=j.pk).status for j in jobs]
    assert statuses == [Status.COMPLETED, Status.QUEUED]
