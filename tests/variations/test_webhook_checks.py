"""The webhook's order of checks: everything a forger can fail cheaply is checked before the secret is
needed, the secret is fetched at most once a minute per key and without retries, and no answer
quotes WaveSpeed. Also: numbers in a signed delivery are range-checked."""

import json
import time

import pytest
import responses

from tests.live import free_port
from tests.variations.test_webhooks import SECRET, URL, deliver, job, prediction, unchanged, webhook_settings  # noqa: F401
from variations.models import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret_from_wavespeed(settings):
    """The secret is not configured: it must come from WaveSpeed (here `responses`, counting calls)."""
    settings.WAVESPEED_WEBHOOK_SECRET = ""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        url = f"{settings.WAVESPEED_BASE_URL}/api/v3/webhook/secret"
        yield mocked, url


def secret_calls(mocked):
    return sum(1 for call in mocked.calls if call.request.url.endswith("/webhook/secret"))


def test_forged_requests_that_fail_a_cheap_check_never_ask_wavespeed(client, job, secret_from_wavespeed):
    mocked, url = secret_from_wavespeed
    mocked.get(url, json={"code": 200, "data": {"secret": SECRET}})
    now = str(int(time.time()))
    fresh = {"webhook-id": "msg_1", "webhook-timestamp": now, "webhook-signature": "v3," + "0" * 64}
    body = json.dumps(prediction()).encode()
    forged = [
        ({}, body),  # no headers
        ({**fresh, "webhook-signature": "nonsense"}, body),
        ({**fresh, "webhook-timestamp": "tomorrow"}, body),
        ({**fresh, "webhook-timestamp": str(int(time.time()) - 301)}, body),
        (fresh, json.dumps(prediction(prediction_id="f" * 32)).encode()),  # not a prediction of ours
        (fresh, b"[" * 5000 + b"]" * 5000),
        (fresh, body + b" " * 70_000),
    ]

    answers = [client.post(URL, raw, content_type="application/json", headers=headers) for headers, raw in forged]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 400, 200, 400, 413]
    assert secret_calls(mocked) == 0
    assert unchanged(job)


def test_a_settled_prediction_is_acknowledged_without_the_secret(client, job, secret_from_wavespeed):
    mocked, url = secret_from_wavespeed
    job.move_to(Status.STORING)

    answer = deliver(client, prediction())

    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert secret_calls(mocked) == 0


def test_the_secret_is_asked_for_once_a_minute_without_retries_and_never_quoted(client, job, secret_from_wavespeed):
    mocked, url = secret_from_wavespeed
    mocked.get(url, status=500, json={"message": "internal trouble at WaveSpeed"})

    answers = [deliver(client, prediction()) for _ in range(5)]

    assert [answer.status_code for answer in answers] == [503] * 5
    assert secret_calls(mocked) == 1
    assert all(b"trouble" not in answer.content and b"500" not in answer.content for answer in answers)
    assert unchanged(job)


def test_a_secret_once_fetched_is_kept_per_key(client, job, secret_from_wavespeed, settings):
    mocked, url = secret_from_wavespeed
    mocked.get(url, json={"code": 200, "data": {"secret": SECRET}})

    assert deliver(client, prediction("processing")).status_code == 200
    assert deliver(client, prediction("processing")).status_code == 200
    settings.WAVESPEED_API_KEY = "another-key"
    assert deliver(client, prediction("processing")).status_code == 200

    assert secret_calls(mocked) == 2


def test_with_wavespeed_unreachable_forged_requests_are_answered_at_once(client, job, settings):
    settings.WAVESPEED_WEBHOOK_SECRET = ""
    settings.WAVESPEED_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()

    answers = [deliver(client, prediction(), secret="whsec_forged") for _ in range(8)]

    assert time.monotonic() - started < 2, "each request waited for WaveSpeed"
    assert {answer.status_code for answer in answers} == {503}


def test_a_signed_delivery_with_an_infinite_timing_is_applied_without_it(client, job):
    raw = json.dumps(prediction()).replace('"inference": 2345', '"inference": 1e400').encode()

    answer = deliver(client, raw)

    assert answer.status_code == 200
    job.refresh_from_db()
    assert job.status == Status.STORING and job.inference_ms is None
