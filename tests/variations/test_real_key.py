"""The real-key path (issue 13), dispatcher side, against the simulator: submits are never re-sent blindly,
unanswered ones settle from WaveSpeed's account-wide history without following another client's task,
every ending is final at once, refusals pause submits instead of failing jobs, deletes are bounded."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import run_dispatcher_here
from variations import dispatcher
from variations.services import jobs as job_services
from variations.models import ApiKeyRefusal, LedgerEntry, Status, Variation
from variations.params import VariationParams

pytestmark = pytest.mark.django_db


def queue(source, owner, count=1, **params):
    return [job_services.create_variation(source, VariationParams(**params), owner) for _ in range(count)]


def left_mid_submit(job, seconds_ago=0):
    """As a dispatcher that died between claiming a job and hearing WaveSpeed's answer leaves it."""
    job.move_to(Status.SUBMITTING, submitted_at=timezone.now() - timedelta(seconds=seconds_ago), submit_attempts=1)
    return job


def submit_directly(job):
    """The POST of `job` arrives at WaveSpeed, its answer lost."""
    client = dispatcher.Dispatcher("dead").client()
    with job.source.image.open("rb") as fh:
        url = client.upload_media("s.jpg", fh.read(), "image/jpeg")
    return client.submit(url, job.params())


# --- problem 1: a submit answered 5xx is never re-sent ----------------------------------------------------


def test_a_submit_answered_5xx_after_the_task_was_created_is_followed_not_sent_again(fake_wavespeed, source, member):
    fake_wavespeed.config.submit_error_rate = 1.0
    job = queue(source, member)[0]
    worker = dispatcher.Dispatcher("test")
    worker.submits.send_queued()
    worker.pool.shutdown(wait=True)
    worker.collect()
    fake_wavespeed.config.submit_error_rate = 0.0

    run_dispatcher_here()

    job.refresh_from_db()
    stats = fake_wavespeed.stats()
    assert stats["submits"] == 1  # one task created, never a second
    assert stats["faults"]["submit_error"] == 1
    assert job.status == Status.COMPLETED and job.prediction_id in stats["predictions"]


# --- problem 7: history is account-wide ---------------------------------------------------------------------


def test_several_unanswered_submits_in_one_window_settle_by_order(fake_wavespeed, source, member):
    jobs = [left_mid_submit(job) for job in queue(source, member, count=3)]
    landed = [submit_directly(job) for job in jobs]  # submits go out one at a time, in claim order

    run_dispatcher_here()

    for job, prediction in zip(jobs, landed):
        job.refresh_from_db()
        assert (job.status, job.prediction_id) == (Status.COMPLETED, prediction.id), job.error
    assert fake_wavespeed.stats()["submits"] == 3


def test_another_clients_task_in_the_window_is_never_followed(fake_wavespeed, source, member):
    fake_wavespeed.config.foreign_rate = 1.0  # beside each task, another client's of the same model
    job = left_mid_submit(queue(source, member)[0])
    submit_directly(job)

    run_dispatcher_here()

    job.refresh_from_db()
    stats = fake_wavespeed.stats()
    foreign = {pid for pid, p in stats["predictions"].items() if p["foreign"]}
    assert foreign and job.prediction_id not in foreign
    assert job.status == Status.FAILED and job.error_code == "submit_ambiguous"
    assert "could be" in job.error
    assert stats["submits"] == 1


def test_tasks_of_other_models_and_unreadable_times_never_raise(fake_wavespeed, source, member, monkeypatch):
    """A naive created_at (no time zone) used to raise outside the error handling and leave the job
    SUBMITTING forever; other models' tasks are not candidates at all."""
    import wavespeed_api

    job = left_mid_submit(queue(source, member)[0])
    landed = submit_directly(job)
    naive = (timezone.now().replace(tzinfo=None)).isoformat()
    real_history = wavespeed_api.WaveSpeedClient.history

    def history(self, page=1, page_size=100):
        items = real_history(self, page, page_size)
        mine = [wavespeed_api.HistoryItem(i.id, i.model, i.status, wavespeed_api.parse_time(naive)) for i in items]
        other = wavespeed_api.HistoryItem("other-model-task", "wavespeed-ai/flux-dev", "completed", timezone.now())
        return mine + [other]

    monkeypatch.setattr(wavespeed_api.WaveSpeedClient, "history", history)

    run_dispatcher_here()

    job.refresh_from_db()
    assert (job.status, job.prediction_id) == (Status.COMPLETED, landed.id)
