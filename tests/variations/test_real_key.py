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


@pytest.fixture(autouse=True)
def fresh_prices(monkeypatch):
    """Prices are cached, and a failed lookup holds off the next ones, per process: each test starts afresh."""
    from django.core.cache import cache

    from variations import costs

    cache.clear()
    monkeypatch.setattr(costs, "_price_unavailable_until", 0.0)


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
    landed = [submit_directly(job) for job in jobs]  # claimed apart: three bursts of one, made in claim order

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


# --- problem 6 and the balance: refusals pause submits, and the banner says which -----------------------

BASE = "https://api.wavespeed.test"


def answering_submits_with(wavespeed_answers, status, body):
    wavespeed_answers.post(f"{BASE}/api/v3/media/upload/binary", json={"code": 200, "data": {"download_url": "https://f.test/s.jpg"}})
    wavespeed_answers.post(f"{BASE}/api/v3/model/price", json={"code": 200, "data": {"price": 0.025}})
    wavespeed_answers.post(f"{BASE}/api/v3/wavespeed-ai/flux-redux-dev", status=status, json=body)


@pytest.fixture
def wavespeed_answers():
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def submit_posts(wavespeed_answers):
    return [c for c in wavespeed_answers.calls if c.request.url.endswith("flux-redux-dev")]


def test_a_403_pauses_submits_and_the_banner_says_it_is_the_account(client, wavespeed_answers, source, member):
    answering_submits_with(wavespeed_answers, 403, {"code": 403, "message": "account suspended"})
    jobs = queue(source, member, count=5)

    run_dispatcher_here(5)

    statuses = sorted(Variation.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True))
    assert statuses == [Status.FAILED] + [Status.QUEUED] * 4  # one refused; the rest wait, its burst included
    assert len(submit_posts(wavespeed_answers)) == 3  # the first burst (3 at once), nothing after the refusal
    assert sum(Variation.objects.filter(pk__in=[j.pk for j in jobs]).values_list("submit_attempts", flat=True)) == 1
    refusal = ApiKeyRefusal.for_current_key()
    assert refusal.kind == ApiKeyRefusal.Kind.FORBIDDEN
    client.force_login(member)
    page = client.get("/").content.decode()
    assert "WaveSpeed refused the account (403)" in page and "ask WaveSpeed support" in page


def test_an_empty_balance_pauses_submits_instead_of_failing_every_job(client, wavespeed_answers, source, member):
    answering_submits_with(wavespeed_answers, 400, {"code": 400, "message": "Insufficient balance"})
    jobs = queue(source, member, count=5)

    run_dispatcher_here(5)

    assert set(Variation.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)) == {Status.QUEUED}
    assert Variation.objects.get(pk=jobs[0].pk).submit_attempts == 0  # not an attempt: nothing was made
    assert len(submit_posts(wavespeed_answers)) == 3  # the first burst (3 at once), nothing after the refusal
    assert ApiKeyRefusal.for_current_key().kind == ApiKeyRefusal.Kind.INSUFFICIENT_BALANCE
    client.force_login(member)
    assert "The WaveSpeed balance is too low" in client.get("/").content.decode()


@pytest.mark.parametrize("balance,resumed", [(0, False), (5, True)])
def test_submits_resume_once_the_balance_is_topped_up(wavespeed_answers, source, member, balance, resumed):
    from variations.models import key_fingerprint
    from django.conf import settings

    ApiKeyRefusal.objects.create(
        fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY), kind=ApiKeyRefusal.Kind.INSUFFICIENT_BALANCE,
        checked_at=timezone.now() - timedelta(minutes=5),
    )
    wavespeed_answers.get(f"{BASE}/api/v3/balance", json={"code": 200, "data": {"balance": balance}})

    worker = dispatcher.Dispatcher("test")
    worker.check_key()

    assert worker.key_refused is not resumed
    assert (ApiKeyRefusal.for_current_key() is None) is resumed


# --- problem 4: deletes are bounded and never block the queue -----------------------------------------------


def run_with_client(seconds, **options):
    """The dispatcher in this process with its client's own retries set (deletes fail fast here)."""
    from variations.connection import wavespeed_client
    from variations.models import DispatcherLease

    assert DispatcherLease.acquire("test", 10)
    try:
        dispatcher.Dispatcher("test", client_factory=lambda: wavespeed_client(**options)).run(seconds)
    finally:
        DispatcherLease.release("test")


def cancelled_at_wavespeed(source, member, count=1):
    jobs = queue(source, member, count=count)
    for index, job in enumerate(jobs):
        Variation.objects.filter(pk=job.pk).update(status=Status.CANCELLED, prediction_id=f"p{index}", delete_pending=True)
    return jobs


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_refused_delete_is_logged_and_let_go(wavespeed_answers, source, member, caplog, status):
    wavespeed_answers.post(f"{BASE}/api/v3/predictions/delete", status=status, json={"code": status, "message": "no"})
    wavespeed_answers.delete(f"{BASE}/api/v3/predictions/p0", status=status, json={"code": status, "message": "no"})
    job = cancelled_at_wavespeed(source, member)[0]

    run_with_client(5, retries=0)

    assert not Variation.objects.get(pk=job.pk).delete_pending
    assert "letting it go" in caplog.text
    assert len([c for c in wavespeed_answers.calls if "predictions" in c.request.url]) <= 2  # one try (and the per-id form)


def test_a_failing_delete_is_tried_a_bounded_number_of_times(wavespeed_answers, source, member, monkeypatch):
    from variations.dispatcher import outcomes

    monkeypatch.setitem(outcomes.OUTCOMES, (outcomes.Stage.DELETE, outcomes.Answer.NOT_DELETED), outcomes.Outcome(None, retry_after=0.05))
    wavespeed_answers.post(f"{BASE}/api/v3/predictions/delete", status=500, json={"code": 500, "message": "down"})
    job = cancelled_at_wavespeed(source, member)[0]

    run_with_client(5, retries=0)

    assert not Variation.objects.get(pk=job.pk).delete_pending
    assert len(wavespeed_answers.calls) == outcomes.MAX_DELETE_ATTEMPTS


def test_stuck_deletes_do_not_stop_submits(settings, fake_wavespeed, source, member):
    """Three deletes WaveSpeed refuses used to hold the three slots of the default cap forever."""
    settings.WAVESPEED_MAX_CONCURRENCY = 3
    cancelled_at_wavespeed(source, member, count=3)  # ids the simulator does not know: 0 deleted
    job = queue(source, member)[0]

    run_dispatcher_here(20)

    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert not Variation.objects.filter(delete_pending=True).exists()


# --- problems 5 and 8: money fails closed -------------------------------------------------------------------


def no_price_anywhere(wavespeed_answers):
    for path in ("price", "pricing"):
        wavespeed_answers.post(f"{BASE}/api/v3/model/{path}", status=404, json={"code": 404, "message": "no such route"})


def test_with_a_budget_a_job_whose_price_nobody_can_tell_waits_and_says_why(settings, wavespeed_answers, api, source, member):
    """The issue's case: with a $0.30 budget a never-priced job counted as $0 and went out."""
    from variations import costs

    settings.FLUXSITE_MONTHLY_BUDGET_USD = costs.Decimal("0.30")
    no_price_anywhere(wavespeed_answers)
    job = queue(source, member)[0]

    run_dispatcher_here(3)

    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.submit_attempts == 0
    assert not submit_posts(wavespeed_answers)
    assert "price is unknown" in api.get(f"/api/v1/variations/{job.pk}").json()["queue"]["reason"]


def test_without_a_quote_the_configured_price_per_image_is_charged_as_an_estimate(settings, wavespeed_answers, signed_in, source, member):
    from decimal import Decimal

    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("1")
    settings.FLUXSITE_PRICE_PER_IMAGE_USD = Decimal("0.025")
    no_price_anywhere(wavespeed_answers)
    wavespeed_answers.post(f"{BASE}/api/v3/media/upload/binary", json={"code": 200, "data": {"download_url": "https://f.test/s.jpg"}})
    wavespeed_answers.post(f"{BASE}/api/v3/wavespeed-ai/flux-redux-dev", json={"code": 200, "data": {"id": "t1", "status": "created"}})
    queue(source, member, num_images=2)

    run_dispatcher_here(2)

    entry = LedgerEntry.objects.get()
    assert (entry.amount_usd, entry.quoted) == (Decimal("0.05"), False)
    assert "counted at an estimate" in signed_in.get("/costs/").content.decode()


def test_the_discounted_price_is_what_is_charged(fake_wavespeed, source, member):
    from decimal import Decimal

    fake_wavespeed.config.discount = 0.2
    job = queue(source, member, num_images=2)[0]

    run_dispatcher_here()

    job.refresh_from_db()
    entry = LedgerEntry.objects.get(job=job)
    assert job.status == Status.COMPLETED
    assert (entry.amount_usd, entry.quoted) == (Decimal("0.04"), True)  # 2 x 0.025, 20 % off


@pytest.mark.django_db(transaction=True)  # the budget is judged in the submit thread, on a connection of its own
def test_a_fresh_quote_over_the_budget_is_not_sent(settings, fake_wavespeed, source, member):
    from decimal import Decimal

    from tests.factories import make_job
    from variations import costs
    from variations.ledger import settle_ledger

    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("0.30")
    spent = make_job(source, member, Status.COMPLETED, size="512*512")
    Variation.objects.filter(pk=spent.pk).update(prediction_id="earlier", cost_usd=Decimal("0.275"))
    settle_ledger()  # the earlier job's charge is written, as the dispatcher writes it when WaveSpeed takes a task
    job = queue(source, member, num_images=2)[0]  # never priced: WaveSpeed quotes 0.05 in the submit thread

    run_dispatcher_here()

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "budget_reached")
    assert "this job $0.05" in job.error and "$0.275 spent" in job.error
    assert fake_wavespeed.stats()["submits"] == 0
    assert costs.spent_this_month() == Decimal("0.275")


def test_a_failed_task_is_refunded_as_an_entry_of_its_own(fake_wavespeed, source, member):
    from decimal import Decimal

    from variations import costs

    fake_wavespeed.config.fail_rate, fake_wavespeed.config.fail_codes = 1.0, [1403]
    job = queue(source, member)[0]

    run_dispatcher_here()

    kinds = sorted(LedgerEntry.objects.filter(job=job).values_list("kind", "amount_usd"))
    assert kinds == [("charge", Decimal("0.025")), ("refund", Decimal("-0.025"))]
    assert costs.spent_this_month() == 0


@pytest.mark.parametrize("ending", ["cancel_rate", "timeout_rate"])
def test_cancelled_and_timed_out_tasks_end_at_once_and_are_refunded(fake_wavespeed, source, member, ending):
    """Issue 13, problem 2: they used to be polled until the app's own 600 s timeout, then counted as spent."""
    import time

    setattr(fake_wavespeed.config, ending, 1.0)
    job = queue(source, member)[0]

    began = time.monotonic()
    run_dispatcher_here()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_code != "timeout"
    assert time.monotonic() - began < 20
    assert LedgerEntry.objects.filter(job=job, kind=LedgerEntry.Kind.REFUND).exists()


def test_an_unanswered_submit_waits_while_a_younger_one_may_own_its_task(settings, fake_wavespeed, source, member):
    """A task of a submit still under way (or too young to settle) is no other job's to take."""
    from variations.dispatcher.reconcile import settle

    old, young = queue(source, member, count=2)
    left_mid_submit(old, seconds_ago=10)
    left_mid_submit(young)
    landed = submit_directly(young)  # only the young one's POST arrived; its answer is still to come
    items = dispatcher.Dispatcher("x").client().history()

    assert settle([old], items, younger=[young]) == {}  # not now: the young one's answer decides
    assert settle([old], [], younger=[young])[old.pk].answer.name == "NEVER_ARRIVED"
    assert landed.id in {item.id for item in items}
