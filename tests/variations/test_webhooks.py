"""POST /webhooks/wavespeed: a valid signature applies the result once; anything else changes nothing.

Signatures are made with the simulator's own signing code (wavespeed_api/simulator/webhooks.py), an
implementation of WaveSpeed's documented scheme separate from the app's check.
"""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.factories import make_image
from variations import costs
from variations.services import sources
from variations.services import jobs as job_services
from variations.models import Status, Variation
from variations.params import VariationParams
from wavespeed_api.simulator.config import DEFAULT_WEBHOOK_SECRET
from wavespeed_api.simulator.webhooks import deliver_webhook, webhook_signature

URL = "/webhooks/wavespeed"
SECRET = "whsec_test-secret-for-webhooks"
PREDICTION_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.WAVESPEED_WEBHOOK_SECRET = SECRET


@pytest.fixture
def job(member):
    """A job WaveSpeed is running (PROCESSING, with its prediction id), as after the submit's answer."""
    source = sources.store_source(make_image(), user=member)[0]
    job = job_services.create_variation(source, VariationParams(num_images=2), member)
    job.move_to(Status.SUBMITTING, submitted_at=timezone.now())
    job.move_to(
        Status.PROCESSING, prediction_id=PREDICTION_ID, via_webhook=True,
        next_poll_at=timezone.now() + timedelta(seconds=30),
    )
    return job


def prediction(status="completed", prediction_id=PREDICTION_ID, **extra):
    outputs = [f"https://cdn.wavespeed.test/{prediction_id}/{i}.jpeg" for i in range(2)] if status == "completed" else []
    return {
        "id": prediction_id, "model": "wavespeed-ai/flux-redux-dev", "status": status, "outputs": outputs,
        "has_nsfw_contents": [False, True] if outputs else [], "error": "", "timings": {"inference": 2345},
        "created_at": "2025-11-26T10:00:00.000Z", **extra,
    }


def sign(secret, webhook_id, timestamp, raw):
    try:
        return webhook_signature(secret, webhook_id, timestamp, raw)
    except UnicodeDecodeError:  # the simulator only ever signs JSON text; the scheme itself works on bytes
        key = secret.removeprefix("whsec_").encode()
        return "v3," + hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()


def deliver(client, body, webhook_id="msg_1", timestamp=None, secret=SECRET, signature=None, url=URL, **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    signature = signature or sign(secret, webhook_id, timestamp, raw)
    return client.post(
        url, raw, content_type="application/json",
        headers={"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature, **headers},
    )


def unchanged(job):
    fresh = Variation.objects.get(pk=job.pk)
    return (fresh.status, fresh.remote_output_urls, fresh.finished_at) == (Status.PROCESSING, [], None)


# --- the normal path ---------------------------------------------------------------------------------------------


def test_a_signed_completion_moves_the_job_on_to_storing_its_outputs(client, job):
    response = deliver(client, prediction())

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    job.refresh_from_db()
    assert job.status == Status.STORING
    assert job.remote_output_urls == prediction()["outputs"]
    assert job.remote_nsfw == [False, True]
    assert job.inference_ms == 2345 and job.finished_at is not None


def test_a_signed_failure_fails_the_job_with_its_code(client, job):
    response = deliver(client, prediction("failed", error="content moderation flagged the input", error_code=1200))

    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.error_code, job.error) == (Status.FAILED, "1200", "content moderation flagged the input")


@pytest.mark.parametrize("status", ["cancelled", "timeout"])
def test_a_cancelled_or_timed_out_task_ends_the_job_as_refunded(client, job, status):
    """Issue 13, problem 2: both are final at WaveSpeed (the SDK's and CLI's statuses), not a 400 and a 600 s wait."""
    Variation.objects.filter(pk=job.pk).update(cost_usd=Decimal("0.05"))

    response = deliver(client, prediction(status, error=f"task {status}"))

    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, f"task {status}")
    assert costs.spent_this_month() == 0  # failed tasks are refunded


def test_an_unknown_status_is_acknowledged_and_changes_nothing(client, job):
    response = deliver(client, prediction("warming-up"))

    assert response.status_code == 200
    assert unchanged(job)


def test_duplicate_deliveries_apply_the_result_once(client, job):
    first = deliver(client, prediction())
    job.refresh_from_db()
    after_first = (job.status, job.finished_at, job.remote_output_urls)

    # WaveSpeed retries with the same webhook-id and a fresh timestamp; a changed body must not count either.
    again = deliver(client, prediction(), webhook_id="msg_1")
    changed = deliver(client, prediction("failed", error="late and different", error_code=1403), webhook_id="msg_2")

    assert first.status_code == again.status_code == changed.status_code == 200
    job.refresh_from_db()
    assert (job.status, job.finished_at, job.remote_output_urls) == after_first
    assert job.error == ""


def test_a_replayed_delivery_after_the_job_finished_changes_nothing(client, job):
    body = json.dumps(prediction()).encode()
    timestamp = str(int(time.time()))
    headers = {"webhook_id": "msg_replay", "timestamp": timestamp}
    assert deliver(client, body, **headers).status_code == 200
    job.refresh_from_db()
    job.move_to(Status.COMPLETED)

    replay = deliver(client, body, **headers)  # the very same request, captured and sent again

    assert replay.status_code == 200
    job.refresh_from_db()
    assert job.status == Status.COMPLETED


def test_an_unknown_prediction_is_acknowledged_and_ignored(client, job):
    response = deliver(client, prediction(prediction_id="f" * 32))

    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert unchanged(job)


def test_a_progress_event_does_not_move_the_job(client, job):
    assert deliver(client, prediction("processing")).status_code == 200
    assert unchanged(job)


def test_the_secret_is_fetched_from_wavespeed_when_not_configured(client, job, settings, simulator):
    settings.WAVESPEED_WEBHOOK_SECRET = ""
    settings.WAVESPEED_BASE_URL = simulator.base_url

    assert deliver(client, prediction(), secret=SECRET).status_code == 401  # not the key's secret
    assert deliver(client, prediction(), secret=DEFAULT_WEBHOOK_SECRET).status_code == 200
    job.refresh_from_db()
    assert job.status == Status.STORING


@responses.activate
def test_a_secret_wavespeed_cannot_give_is_a_503_so_wavespeed_retries(client, job, settings):
    settings.WAVESPEED_WEBHOOK_SECRET = ""
    responses.get(f"{settings.WAVESPEED_BASE_URL}/api/v3/webhook/secret", status=500, json={"message": "down"})

    response = deliver(client, prediction())

    assert response.status_code == 503
    assert unchanged(job)


@pytest.mark.django_db(transaction=True)
def test_the_simulators_delivery_is_accepted_end_to_end(live_server, job, settings):
    """The simulator signs and POSTs exactly as WaveSpeed documents; the app verifies and applies it."""
    attempts = []
    delivered = deliver_webhook(
        f"{live_server.url}{URL}", "msg_e2e", json.dumps(prediction()).encode(), SECRET, 0.01,
        stopping=threading.Event(), on_attempt=lambda: attempts.append(1),
    )

    assert delivered and len(attempts) == 1
    job.refresh_from_db()
    assert job.status == Status.STORING


# --- a submit that got no answer: the URL's tag names its job (submit.webhook_url) ------------------------------


@pytest.fixture
def unanswered(member):
    """A job whose submit went out (first attempt) a moment ago and got no answer yet."""
    source = sources.store_source(make_image(), user=member)[0]
    job = job_services.create_variation(source, VariationParams(num_images=2), member)
    job.move_to(Status.SUBMITTING, submitted_at=timezone.now(), submit_attempts=1)
    return job


def tagged(job, attempt=1):
    return f"{URL}?job={job.pk}&attempt={attempt}"


def just_made(**extra):
    return prediction(created_at=timezone.now().isoformat(), **extra)


def test_a_signed_delivery_tagged_with_an_unanswered_submit_settles_that_job(client, unanswered):
    response = deliver(client, just_made(), url=tagged(unanswered))

    assert response.status_code == 200 and response.json() == {"status": "ok"}
    unanswered.refresh_from_db()
    assert (unanswered.status, unanswered.prediction_id) == (Status.STORING, PREDICTION_ID)
    assert unanswered.remote_output_urls == prediction()["outputs"]
    assert unanswered.ledger_entries.filter(kind="charge", prediction_id=PREDICTION_ID).exists()


@pytest.mark.parametrize(
    "body, tag, signature",
    [
        pytest.param(just_made(), {"attempt": 2}, None, id="an earlier attempt's task"),
        pytest.param(just_made(model="wavespeed-ai/flux-dev"), {}, None, id="another model's task"),
        pytest.param(prediction(created_at="2025-11-26T10:00:00Z"), {}, None, id="made long before the submit"),
        pytest.param(just_made(), {}, "v3," + "0" * 64, id="unsigned"),
    ],
)
def test_a_tag_settles_nothing_that_could_be_another_tasks(client, unanswered, body, tag, signature):
    response = deliver(client, body, url=tagged(unanswered, **tag), signature=signature)

    assert response.status_code in (200, 401)
    unanswered.refresh_from_db()
    assert (unanswered.status, unanswered.prediction_id) == (Status.SUBMITTING, "")


def test_a_tag_never_moves_a_prediction_a_job_already_follows(client, job, unanswered):
    """The prediction is `job`'s: a delivery for it tagged with another job still goes to `job`."""
    deliver(client, just_made(), url=tagged(unanswered))

    job.refresh_from_db()
    unanswered.refresh_from_db()
    assert job.status == Status.STORING and unanswered.status == Status.SUBMITTING


# --- refused ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper, status",
    [
        pytest.param({"secret": "whsec_someone-else"}, 401, id="wrong secret"),
        pytest.param({"signature": "v3," + "0" * 64}, 401, id="made-up signature"),
        # Not even shaped like a signature: refused before the secret is needed (test_webhook_checks.py).
        pytest.param({"signature": "v1,abc v2,def"}, 400, id="other versions only"),
        pytest.param({"signature": "v3,é"}, 400, id="non-ascii signature"),
        pytest.param({"signature": "garbage"}, 400, id="no version"),
    ],
)
def test_a_bad_signature_is_refused_and_changes_nothing(client, job, tamper, status):
    response = deliver(client, prediction(), **tamper)

    assert response.status_code == status
    assert unchanged(job)


def test_a_body_changed_after_signing_is_refused(client, job):
    timestamp = str(int(time.time()))
    signed_for = json.dumps(prediction("failed", error="x", error_code=1403)).encode()
    signature = webhook_signature(SECRET, "msg_1", timestamp, signed_for)

    response = deliver(client, prediction(), timestamp=timestamp, signature=signature)

    assert response.status_code == 401
    assert unchanged(job)


# Whole seconds, and time passes before the check: a future stamp needs a margin past 300 s to stay out.
@pytest.mark.parametrize("age", [301, 3600, -320], ids=["just stale", "an hour old", "from the future"])
def test_stale_or_future_timestamps_are_refused_even_when_signed(client, job, age):
    response = deliver(client, prediction(), timestamp=int(time.time()) - age)

    assert response.status_code == 400 and "stale" in response.json()["error"]
    assert unchanged(job)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_refused(client, job, missing):
    raw = json.dumps(prediction()).encode()
    timestamp = str(int(time.time()))
    headers = {
        "webhook-id": "msg_1", "webhook-timestamp": timestamp,
        "webhook-signature": webhook_signature(SECRET, "msg_1", timestamp, raw),
    }
    del headers[missing]

    response = client.post(URL, raw, content_type="application/json", headers=headers)

    assert response.status_code == 400
    assert unchanged(job)


@pytest.mark.parametrize("timestamp", ["yesterday", "1e9", "", "9" * 5000])
def test_unreadable_timestamps_are_refused(client, job, timestamp):
    response = deliver(client, prediction(), timestamp=timestamp, signature="v3,abc")
    assert response.status_code == 400
    assert unchanged(job)


@pytest.mark.parametrize("body", [b"not json", b"\xff\xfe\x00", b"[1, 2]", f'{{"id": "{PREDICTION_ID}"}}'.encode()])
def test_signed_but_unreadable_bodies_are_refused(client, job, body):
    response = deliver(client, body)
    assert response.status_code == 400
    assert unchanged(job)


def test_only_post_is_allowed(client, job):
    assert client.get(URL).status_code == 405
    assert unchanged(job)


# --- fuzz --------------------------------------------------------------------------------------------------------------

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=80)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    webhook_id=header_text,
    timestamp=st.one_of(header_text, st.integers(-(10**12), 10**12).map(str)),
    signature=st.one_of(header_text, header_text.map(lambda s: "v3," + s)),
    body=st.one_of(st.binary(max_size=300), st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(st.text(max_size=10), st.text(max_size=10)))),
)
def test_forged_deliveries_never_crash_and_never_change_a_job(client, job, webhook_id, timestamp, signature, body):
    response = client.post(
        URL, body, content_type="application/json",
        headers={"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature},
    )

    assert response.status_code in (400, 401) or response.json()["status"] == "ignored"
    assert unchanged(job)


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.dictionaries(
        st.sampled_from(["id", "status", "outputs", "has_nsfw_contents", "error", "error_code", "timings", "code"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.text(max_size=20), max_size=3),
                  st.dictionaries(st.text(max_size=8), st.integers(), max_size=2)),
    )
)
def test_signed_bodies_of_any_shape_never_crash(client, job, data):
    """Even with a valid signature (a WaveSpeed change, or a bug there) a strange body is answered, never a 500."""
    response = deliver(client, data)
    assert response.status_code in (200, 400)
