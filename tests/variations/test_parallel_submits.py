"""Submits go out in parallel bursts (issue 11), and a submit that got no answer is still settled exactly:
a lone one of a burst from the history, several of one burst by their tagged webhooks, never by a guess."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from tests.factories import run_dispatcher_here
from variations import dispatcher
from variations.dispatcher.reconcile import settle
from variations.models import Status, Variation
from variations.params import VariationParams
from variations.services import jobs as job_services
from wavespeed_api import MODEL_ID, HistoryItem

pytestmark = pytest.mark.django_db


def queue(source, owner, count=1):
    return [job_services.create_variation(source, VariationParams(), owner) for _ in range(count)]


def claimed_together(jobs, seconds_ago=0):
    """As send_queued leaves one burst: every job claimed at the same moment, its submit under way."""
    moment = timezone.now() - timedelta(seconds=seconds_ago)
    for job in jobs:
        job.move_to(Status.SUBMITTING, submitted_at=moment, submit_attempts=1)
    return jobs


def arrives(job):
    """The POST of `job` reaches WaveSpeed (the simulator), which makes its task: the Prediction."""
    client = dispatcher.Dispatcher("elsewhere").client()
    with job.source.image.open("rb") as fh:
        url = client.upload_media("s.jpg", fh.read(), "image/jpeg")
    return client.submit(url, job.params())


def answered(job, prediction):
    """Its answer came: the job follows the task, as submit.accepted leaves it."""
    job.move_to(Status.PROCESSING, prediction_id=prediction.id, next_poll_at=timezone.now())


# --- parallel -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parallelism, serial", [(0, False), (1, True)], ids=["default", "one-at-a-time"])
def test_the_first_round_goes_out_at_once(settings, fake_wavespeed, source, member, parallelism, serial):
    """Each submit is answered 0.5 s after WaveSpeed made its task: one at a time, the third task would
    come a whole second after the first; in parallel, all three within a fraction of that."""
    settings.FLUXSITE_SUBMIT_PARALLELISM = parallelism
    fake_wavespeed.config.submit_timeout_rate, fake_wavespeed.config.slow_seconds = 1.0, 0.5
    jobs = queue(source, member, count=3)

    run_dispatcher_here()

    made = sorted(p["submitted_at"] for p in fake_wavespeed.stats()["predictions"].values())
    assert len(made) == 3
    assert (made[-1] - made[0] >= 0.9) is serial, made
    assert {Variation.objects.get(pk=job.pk).status for job in jobs} == {Status.COMPLETED}


def test_a_burst_shares_one_claim_moment_and_the_next_waits_for_it_to_end(settings, fake_wavespeed, source, member):
    """The order between bursts is what settles unanswered submits by rank: no submit of a later burst
    may start while one of an earlier burst is under way."""
    settings.WAVESPEED_MAX_CONCURRENCY, settings.FLUXSITE_SUBMIT_PARALLELISM = 3, 2
    fake_wavespeed.config.submit_timeout_rate, fake_wavespeed.config.slow_seconds = 1.0, 0.4
    jobs = queue(source, member, count=4)
    worker = dispatcher.Dispatcher("test")

    worker.submits.send_queued()
    claimed = Variation.objects.filter(status=Status.SUBMITTING)
    worker.submits.send_queued()  # a slot is still free, but the burst is under way

    assert claimed.count() == 2 and len(set(claimed.values_list("submitted_at", flat=True))) == 1
    worker.pool.shutdown(wait=True)
    worker.collect()
    assert Variation.objects.filter(pk__in=[j.pk for j in jobs], status=Status.QUEUED).count() == 2


# --- settling from the history ----------------------------------------------------------------------------------------


def test_a_lone_unanswered_submit_among_answered_ones_of_its_burst_is_settled_exactly(fake_wavespeed, source, member):
    first, lost, last = claimed_together(queue(source, member, count=3))
    tasks = [arrives(job) for job in (first, lost, last)]  # the lost one's task made between the others'
    answered(first, tasks[0])
    answered(last, tasks[2])

    run_dispatcher_here()

    lost.refresh_from_db()
    assert (lost.status, lost.prediction_id) == (Status.COMPLETED, tasks[1].id), lost.error
    assert fake_wavespeed.stats()["submits"] == 3


def test_several_unanswered_submits_of_one_burst_are_never_matched_by_a_guess(fake_wavespeed, source, member):
    """Their tasks all arrived, but WaveSpeed's order is not the claim order within a burst (and the
    history has no inputs): they fail as ambiguous, each saying why, and none is sent again."""
    jobs = claimed_together(queue(source, member, count=3))
    for job in jobs:
        arrives(job)

    run_dispatcher_here()

    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.error_code, job.prediction_id) == (Status.FAILED, "submit_ambiguous", "")
        assert "went out together with 2 other submits" in job.error
    assert fake_wavespeed.stats()["submits"] == 3


def test_a_burst_none_of_whose_submits_arrived_is_sent_again(fake_wavespeed, source, member):
    jobs = claimed_together(queue(source, member, count=3))

    run_dispatcher_here()

    assert {Variation.objects.get(pk=job.pk).status for job in jobs} == {Status.COMPLETED}
    assert fake_wavespeed.stats()["submits"] == 3


def item(prediction_id, at, status="completed"):
    return HistoryItem(prediction_id, MODEL_ID, status, at)


def test_bursts_keep_their_order_so_a_later_lone_submit_settles_beside_an_ambiguous_burst():
    now = timezone.now()
    earlier = [SimpleNamespace(pk=n, submitted_at=now) for n in (1, 2)]
    later = SimpleNamespace(pk=3, submitted_at=now + timedelta(seconds=1))
    tasks = [item("a", now + timedelta(seconds=0.2)), item("b", now + timedelta(seconds=0.1))]
    tasks.append(item("c", now + timedelta(seconds=1.1)))

    verdicts = settle([*earlier, later], tasks)

    assert (verdicts[3].answer.name, verdicts[3].prediction_id) == ("ARRIVED", "c")
    assert {verdicts[n].answer.name for n in (1, 2)} == {"AMBIGUOUS"}
    assert all(verdicts[n].prediction_id == "" for n in (1, 2))


def test_with_webhooks_a_burst_waits_while_its_tasks_run_for_their_tagged_deliveries(settings):
    settings.FLUXSITE_PUBLIC_URL, settings.FLUXSITE_WEBHOOK_ALLOW_HTTP = "http://studio.test", True
    now = timezone.now()
    burst = [SimpleNamespace(pk=n, submitted_at=now) for n in (1, 2)]

    running = settle(burst, [item("a", now, "processing"), item("b", now, "completed")])
    ended = settle(burst, [item("a", now), item("b", now)])

    assert running == {}
    assert {verdict.answer.name for verdict in ended.values()} == {"AMBIGUOUS"}


# --- settling by tagged webhooks, end to end --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the simulator's deliveries reach the app through live_server's thread
def test_a_burst_whose_submits_all_went_unanswered_is_settled_by_its_tagged_webhooks(settings, live_server, fake_wavespeed, source, member):
    """Every answer comes too late (after the 1 s read timeout): the history alone could not tell the three
    apart, but each delivery's URL names its job, so each job follows its own task."""
    from wavespeed_api.simulator.config import DEFAULT_WEBHOOK_SECRET

    settings.FLUXSITE_PUBLIC_URL, settings.FLUXSITE_WEBHOOK_ALLOW_HTTP = live_server.url, True
    settings.WAVESPEED_WEBHOOK_SECRET, settings.WAVESPEED_READ_TIMEOUT = DEFAULT_WEBHOOK_SECRET, 1
    fake_wavespeed.config.submit_timeout_rate, fake_wavespeed.config.slow_seconds = 1.0, 3.0
    jobs = queue(source, member, count=3)

    run_dispatcher_here()

    stats = fake_wavespeed.stats()
    assert stats["submits"] == 3 and stats["faults"]["submit_timeout"] == 3
    for job in jobs:
        job.refresh_from_db()
        assert job.status == Status.COMPLETED, job.error
        assert stats["predictions"][job.prediction_id]["seed"] == job.seed  # the simulator's record: its own task


def test_an_answer_that_comes_after_the_tagged_webhook_leaves_the_job_on_its_task(fake_wavespeed, source, member):
    """The webhook settled the job first (its submit's answer was slow, not lost): the answer then finds the
    job moved on, and must not take it for a cancel and delete the task."""
    from variations.dispatcher.reconcile import settle_tagged
    from wavespeed_api import Prediction

    job = claimed_together(queue(source, member))[0]
    task = arrives(job)
    delivered = {"id": task.id, "model": MODEL_ID, "status": "completed", "created_at": timezone.now().isoformat()}
    assert settle_tagged(Variation.objects.get(pk=job.pk), delivered)

    dispatcher.Dispatcher("test").submits.accepted(job, "", None, True, Prediction(task.id, "created"))

    job.refresh_from_db()
    assert (job.status, job.prediction_id, job.delete_pending) == (Status.PROCESSING, task.id, False)
