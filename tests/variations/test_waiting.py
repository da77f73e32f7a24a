"""Why a job waits (issue 13): every queued job tells, in the API and on the pages, its place in the queue,
the limit it waits on and when it should start."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import make_job
from variations import waiting
from variations.models import ApiKeyRefusal, Status, Variation, key_fingerprint

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(waiting, "STATE_SECONDS", -1)  # every call looks again


def queued(source, member, count):
    now = timezone.now()
    return [make_job(source, member, Status.QUEUED, created_at=now + timedelta(seconds=i)) for i in range(count)]


def queue_of(api, job):
    return api.get(f"/api/v1/variations/{job.pk}").json()["queue"]


def test_a_full_set_of_slots_says_n_of_n_in_flight(settings, api, source, member):
    settings.WAVESPEED_MAX_CONCURRENCY = 2
    for _ in range(2):
        make_job(source, member, Status.PROCESSING)
    first, second, third = queued(source, member, 3)

    assert queue_of(api, first) == {"position": 1, "reason": "2 of 2 in flight.", "eta_seconds": 10}
    assert queue_of(api, third)["position"] == 3
    assert queue_of(api, third)["eta_seconds"] == 20  # the second wave


def test_the_per_minute_budget_says_when_it_refills(settings, api, source, member):
    settings.WAVESPEED_MAX_PER_MINUTE = 2
    done = make_job(source, member, Status.COMPLETED, outputs=2)
    Variation.objects.filter(pk=done.pk).update(submitted_at=timezone.now() - timedelta(seconds=45))
    job = queued(source, member, 1)[0]

    wait = queue_of(api, job)

    assert wait["reason"].startswith("The per-minute budget refills in 1") and wait["eta_seconds"] in (15, 16)


def test_no_key_and_a_refused_key_say_so(settings, api, source, member):
    job = queued(source, member, 1)[0]
    ApiKeyRefusal.objects.create(fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY), message="WaveSpeed answered 403: suspended")
    assert queue_of(api, job) == {"position": 1, "reason": "Waiting until WaveSpeed accepts the key again: WaveSpeed answered 403: suspended", "eta_seconds": None}

    settings.WAVESPEED_API_KEY = ""
    assert queue_of(api, job)["reason"].startswith("No WaveSpeed API key is set")


def test_the_monthly_budget_and_an_unknown_price_say_so(settings, api, source, member):
    settings.FLUXSITE_MONTHLY_BUDGET_USD = Decimal("1")
    job = queued(source, member, 1)[0]
    assert queue_of(api, job)["reason"].startswith("Its price is unknown and a monthly budget is set")

    settings.FLUXSITE_PRICE_PER_IMAGE_USD = Decimal("0.025")
    assert queue_of(api, job) == {"position": 1, "reason": "Next in line.", "eta_seconds": 0}

    spent = make_job(source, member, Status.COMPLETED)
    Variation.objects.filter(pk=spent.pk).update(prediction_id="p-spent", cost_usd=Decimal("1"))
    wait = queue_of(api, job)
    assert wait["reason"] == "This month's WaveSpeed budget is reached." and wait["eta_seconds"] > 0


def test_jobs_that_went_out_have_no_queue(api, source, member):
    job = make_job(source, member, Status.PROCESSING)
    assert queue_of(api, job) is None


def test_the_pages_show_the_reason(settings, signed_in, source, member):
    settings.WAVESPEED_MAX_CONCURRENCY = 1
    make_job(source, member, Status.PROCESSING)
    queued(source, member, 1)

    page = signed_in.get("/jobs/").content.decode()

    assert "1 of 1 in flight." in page and "#1" in page
