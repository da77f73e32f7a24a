"""Estimated WaveSpeed cost: the price endpoint (cached), the price recorded on each job, what counts
as spent, the monthly budget that stops submits, and the costs page."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import responses
from django.core.cache import cache
from django.utils import timezone

from tests.factories import make_job, run_dispatcher_here
from variations.services import jobs as job_services
import wavespeed_api as wavespeed
from variations.connection import wavespeed_client
from variations import costs
from variations.dispatcher.submit import admit, claim
from variations.models import ErrorCode, Status, Variation
from variations.params import VariationParams

pytestmark = pytest.mark.django_db

BASE = "https://api.wavespeed.test"
PRICE_URL = f"{BASE}/api/v3/model/price"
PRICING_URL = f"{BASE}/api/v3/model/pricing"
PARAMS = {"size": "1024*1024", "num_inference_steps": 28, "seed": 7, "guidance_scale": 3.5, "num_images": 2,
          "enable_safety_checker": True, "output_format": "jpeg"}


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch):
    """Prices and balances are cached per process; each test starts without them."""
    cache.clear()
    monkeypatch.setattr(costs, "_price_unavailable_until", 0.0)
    yield
    cache.clear()


def spend(job, usd, prediction_id="p", **fields):
    """Make `job` one WaveSpeed accepted (and charged) at `usd`."""
    Variation.objects.filter(pk=job.pk).update(prediction_id=f"{prediction_id}-{job.pk.hex[:6]}", cost_usd=Decimal(usd), **fields)


# --- the price endpoint -------------------------------------------------------------------------------


@responses.activate
def test_price_asks_wavespeed_for_the_model_and_parameters_and_caches_the_answer():
    responses.post(PRICE_URL, json={"code": 200, "message": "success", "data": {"model_id": "x", "price": 0.05}})
    assert costs.cached_price(PARAMS) == Decimal("0.05")
    assert costs.cached_price({**PARAMS, "seed": 99}) == Decimal("0.05")  # the seed does not change the price
    assert len(responses.calls) == 1
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer test-key"
    body = json.loads(sent.body)
    assert body["model_id"] == wavespeed.MODEL_ID
    assert body["inputs"]["num_images"] == 2 and "seed" not in body["inputs"]

    responses.post(PRICE_URL, json={"price": 0.1})  # another shape: the price at the top level
    assert costs.cached_price({**PARAMS, "num_images": 4}) == Decimal("0.1")
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize("body", [{"code": 200, "data": {}}, {"code": 200, "data": {"price": "lots"}}, {"price": -1}, [1]])
def test_a_price_answer_without_a_usable_number_is_malformed(body):
    responses.post(PRICE_URL, json=body)
    responses.post(PRICING_URL, json=body)  # the docs page's endpoint, asked next, no better
    with pytest.raises(wavespeed.MalformedResponse):
        wavespeed_client(retries=0).price(PARAMS)


# --- the price on each job, and the budget -------------------------------------------------------------


def claimed(source, owner, **params):
    """A job as the dispatcher holds it just before admit(): claimed (with the price the app can tell), SUBMITTING."""
    job = make_job(source, owner, Status.QUEUED, outputs=params.pop("num_images", 1), **params)
    assert claim([job], timezone.now()) == [job]
    return job


@responses.activate
def test_the_submit_thread_fetches_the_price_and_the_job_records_it(source, member):
    responses.post(PRICE_URL, json={"code": 200, "data": {"price": 0.075}})
    job = claimed(source, member, num_images=3)
    price = costs.fetch_price(job)
    costs.record_price(job, price)
    job.refresh_from_db()
    assert job.cost_usd == Decimal("0.075")
    assert job.status == Status.SUBMITTING


@responses.activate
def test_the_claim_records_the_last_price_of_the_same_parameters(source, member, caplog):
    responses.post(PRICE_URL, status=503)
    responses.post(PRICING_URL, status=503)
    earlier = make_job(source, member, Status.COMPLETED, num_images=1, size="512*512")
    spend(earlier, "0.025")
    job = make_job(source, member, Status.QUEUED, num_images=1, size="512*512")
    other = make_job(source, member, Status.QUEUED, outputs=2, num_images=2, size="512*512")
    assert claim([job, other], timezone.now()) == [job, other]
    assert admit(job) is True and admit(other) is True
    job.refresh_from_db()
    assert (job.status, job.cost_usd, job.submit_attempts) == (Status.SUBMITTING, Decimal("0.025"), 1)

    other.refresh_from_db()
    assert other.status == Status.SUBMITTING
    assert other.cost_usd is None  # never priced: recorded as unknown, not as free
    assert costs.fetch_price(other) is None
    assert "price unavailable" in caplog.text
    assert costs.fetch_price(other) is None
    assert len(responses.calls) == 2  # both price endpoints once; after that WaveSpeed is not asked for a while


def test_a_claim_takes_only_jobs_still_queued(source, member):
    queued = make_job(source, member, Status.QUEUED)
    cancelled = make_job(source, member, Status.CANCELLED)
    burst = timezone.now()
    assert claim([queued, cancelled], burst) == [queued]
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.submit_attempts) == (Status.CANCELLED, 0) and cancelled.submitted_at != burst
    assert Variation.objects.get(pk=queued.pk).submitted_at == burst


def test_a_job_over_the_monthly_budget_is_not_sent_and_says_why(settings, source, member, colleague):
    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("0.90")
    spend(make_job(source, colleague, Status.COMPLETED), "0.50")
    sending = claimed(source, colleague)
    Variation.objects.filter(pk=sending.pk).update(cost_usd=Decimal("0.25"))  # being submitted right now

    job = claimed(source, member)
    assert admit(job) is False
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error_code == ErrorCode.BUDGET_REACHED
    assert job.submitted_at is None  # it holds no place in the per-minute window
    assert "$0.90" in job.error and "$0.75 spent" in job.error and "FLUXSITE_MONTHLY_BUDGET_USD" in job.error

    Variation.objects.filter(pk=sending.pk).update(status=Status.CANCELLED)  # the other one never went out
    fits = claimed(source, member)
    assert admit(fits) is True  # 0.50 + 0.25 (the last price of these parameters) <= 0.90


def test_spent_counts_what_wavespeed_charged_this_month_only(source, member):
    now = timezone.now()
    spend(make_job(source, member, Status.COMPLETED), "0.10")
    spend(make_job(source, member, Status.PROCESSING), "0.20")
    spend(make_job(source, member, Status.FAILED), "0.40", error_code=ErrorCode.DOWNLOAD)  # WaveSpeed did the work
    spend(make_job(source, member, Status.FAILED), "0.80", error_code=ErrorCode.TIMEOUT)
    spend(make_job(source, member, Status.FAILED), "1.60", error_code="1403")  # WaveSpeed failed it: refunded
    spend(make_job(source, member, Status.FAILED), "3.20", error_code=ErrorCode.TASK_FAILED)  # refunded too
    ambiguous = make_job(source, member, Status.FAILED)  # no prediction id, but it may have been charged: counted
    Variation.objects.filter(pk=ambiguous.pk).update(cost_usd=Decimal("6.40"), error_code=ErrorCode.SUBMIT_AMBIGUOUS)
    never_sent = make_job(source, member, Status.FAILED)
    Variation.objects.filter(pk=never_sent.pk).update(cost_usd=Decimal("12.80"), error_code=ErrorCode.BAD_REQUEST)
    last_month = make_job(source, member, Status.COMPLETED)
    spend(last_month, "25.60", submitted_at=costs.month_start(now) - timedelta(seconds=1))

    assert costs.spent_this_month() == Decimal("0.10") + Decimal("0.20") + Decimal("0.40") + Decimal("0.80") + Decimal("6.40")


def test_the_month_starts_at_midnight_utc_on_the_first():
    assert costs.month_start(datetime(2026, 3, 17, 5, 30, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_dispatcher_stops_sending_at_the_budget(settings, fake_wavespeed, source, member):
    """Wired into the dispatcher's submit path: the simulator prices 0.025 USD per image."""
    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("0.10")  # room for four images
    jobs = [job_services.create_variation(source, VariationParams(num_images=1, size="256*256"), member) for _ in range(6)]

    run_dispatcher_here()

    statuses = Counter(Variation.objects.get(pk=job.pk).status for job in jobs)
    assert statuses == {Status.COMPLETED: 4, Status.FAILED: 2}
    assert fake_wavespeed.stats()["submits"] == 4
    assert Variation.objects.filter(error_code=ErrorCode.BUDGET_REACHED).count() == 2
    assert costs.spent_this_month() == Decimal("0.1000")


# --- the costs page -----------------------------------------------------------------------------------


def test_the_costs_page_needs_a_session(client, member):
    response = client.get("/costs/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_costs_page_totals_per_month_and_person(client, source, member, colleague):
    for who, usd in ((member, "0.05"), (member, "0.10"), (colleague, "0.20")):
        spend(make_job(source, who, Status.COMPLETED), usd)
    march = make_job(source, colleague, Status.COMPLETED)
    spend(march, "1.25", submitted_at=datetime(2026, 3, 10, tzinfo=UTC))
    spend(make_job(source, colleague, Status.FAILED), "9.99", error_code="1403")  # refunded
    client.force_login(member)

    response = client.get("/costs/")
    assert response.status_code == 200
    months = response.context["months"]
    this_month = months[0]
    assert this_month["usd"] == Decimal("0.35") and this_month["jobs"] == 3
    assert [(p["name"], p["jobs"], p["usd"]) for p in this_month["people"]] == [("bob", 1, Decimal("0.20")), ("alice", 2, Decimal("0.15"))]
    if timezone.now() - datetime(2026, 3, 10, tzinfo=UTC) < timedelta(days=300):
        assert any(m["month"].month == 3 and m["usd"] == Decimal("1.25") for m in months)
    page = response.content.decode()
    assert "$0.35" in page and "9.99" not in page
    assert "WaveSpeed balance" not in page  # for admins only


def test_admins_see_the_account_balance(client, settings, simulator, admin):
    settings.WAVESPEED_BASE_URL = simulator.base_url
    simulator.config.balance = 42.5
    client.force_login(admin)  # an admin by role, not necessarily a Django superuser
    page = client.get("/costs/").content.decode()
    assert "WaveSpeed balance" in page and "$42.50" in page


def test_admins_see_a_plain_note_when_the_balance_cannot_be_read(client, settings, admin):
    settings.WAVESPEED_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    client.force_login(admin)
    response = client.get("/costs/")
    assert response.status_code == 200
    assert "WaveSpeed did not answer" in response.content.decode()


def test_the_page_says_when_the_budget_is_reached(client, settings, source, member):
    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("0.10")
    spend(make_job(source, member, Status.COMPLETED), "0.10")
    client.force_login(member)
    page = client.get("/costs/").content.decode()
    assert "The monthly budget of $0.10 is reached" in page
