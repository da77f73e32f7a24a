"""The WaveSpeed client against every response shape the API documents, with `responses` (no network)."""

import datetime
import json
import logging
import socket
import uuid
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

import wavespeed_api as wavespeed
from wavespeed_api import client as wavespeed_client_module
from wavespeed_api import (
    AmbiguousSubmit,
    BadRequest,
    Forbidden,
    InsufficientBalance,
    MalformedResponse,
    NotFound,
    Prediction,
    RateLimited,
    ServerError,
    Unauthorized,
    WaveSpeedClient,
)

BASE = "https://api.wavespeed.test"
KEY = "k-secret-key"
SUBMIT_URL = f"{BASE}/api/v3/wavespeed-ai/flux-redux-dev"
RESULT_URL = f"{BASE}/api/v3/predictions/p1/result"
PARAMS = {"size": "1024*768", "num_inference_steps": 28, "seed": 42, "guidance_scale": 3.5, "num_images": 2,
          "enable_safety_checker": True, "output_format": "png"}


def prediction(**changes):
    data = {
        "id": "p1",
        "model": "wavespeed-ai/flux-redux-dev",
        "outputs": [],
        "urls": {"get": RESULT_URL},
        "has_nsfw_contents": [],
        "status": "created",
        "created_at": "2025-01-01T00:00:00Z",
        "error": "",
        "timings": {"inference": None},
    }
    return {**data, **changes}


def envelope(data):
    return {"code": 200, "message": "success", "data": data}


@pytest.fixture
def wavespeed_client():
    return WaveSpeedClient(api_key=KEY, base_url=BASE, retry_backoff=0, retries=3)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def posts(mocked):
    return [call for call in mocked.calls if call.request.method == "POST"]


# --- submit ---------------------------------------------------------------------------------------


def test_submit_returns_the_prediction_and_sends_key_and_parameters(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, json=envelope(prediction(status="processing")))

    result = wavespeed_client.submit("https://files.example/source.jpg", PARAMS)

    assert result == Prediction(id="p1", status="processing")
    request = mocked.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert json.loads(request.body) == {"image": "https://files.example/source.jpg", **PARAMS}
    assert "webhook" not in request.url


def test_submit_with_webhook_adds_the_query_parameter(wavespeed_client, mocked):
    hook = "https://app.example/webhooks/wavespeed"
    mocked.post(SUBMIT_URL, json=envelope(prediction()), match=[matchers.query_param_matcher({"webhook": hook})])

    assert wavespeed_client.submit("https://files.example/s.jpg", PARAMS, webhook_url=hook).id == "p1"
    assert len(mocked.calls) == 1


REFUSALS = [
    (400, BadRequest),
    (401, Unauthorized),
    (402, InsufficientBalance),
    (403, Forbidden),
    (429, RateLimited),
]
BODY_SHAPES = [
    lambda status: {"message": "the reason given", "error_code": status},
    lambda status: {"code": status, "message": "the reason given"},
]


@pytest.mark.parametrize("status,error", REFUSALS)
@pytest.mark.parametrize("shape", BODY_SHAPES, ids=["message+error_code", "code+message"])
def test_submit_refusals_are_typed_and_never_resent(wavespeed_client, mocked, status, error, shape):
    mocked.post(SUBMIT_URL, status=status, json=shape(status))

    with pytest.raises(error) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)

    assert type(caught.value) is error  # a clear refusal is never "ambiguous"
    assert caught.value.status == status
    assert caught.value.code == status
    assert "the reason given" in caught.value.message
    assert len(posts(mocked)) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 302])
def test_submit_answered_anything_but_2xx_or_4xx_is_ambiguous_and_sent_once(wavespeed_client, mocked, status):
    """Issue 13, problem 1: a gateway error can come after WaveSpeed created (and charged) the task."""
    mocked.post(SUBMIT_URL, status=status, json={"code": status, "message": "upstream trouble"})

    with pytest.raises(AmbiguousSubmit) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)

    assert caught.value.status == status
    assert "upstream trouble" in caught.value.message
    assert len(posts(mocked)) == 1


def test_a_403_is_an_account_problem_not_a_bad_request(wavespeed_client, mocked):
    """Issue 13, problem 6: 403 pauses submits like a 401 (Forbidden is an Unauthorized) instead of failing jobs."""
    mocked.post(SUBMIT_URL, status=403, json={"code": 403, "message": "account suspended"})
    mocked.get(RESULT_URL, status=403, json={"code": 403, "message": "account suspended"})

    with pytest.raises(Forbidden) as submit_error:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    with pytest.raises(Forbidden):
        wavespeed_client.get_result("p1")

    assert isinstance(submit_error.value, Unauthorized)
    assert not isinstance(submit_error.value, BadRequest)
    assert submit_error.value.kind == "forbidden"
    assert len(mocked.calls) == 2  # a poll answered 403 is not retried either


@pytest.mark.parametrize(
    "status,body",
    [
        (402, {"message": "payment required"}),
        (400, {"code": 400, "message": "Insufficient balance, please top up"}),
        (403, {"message": "Your balance is not enough", "error_code": 403}),
        (200, {"code": 402, "message": "insufficient credits", "data": None}),
    ],
    ids=["402", "400-balance", "403-balance", "envelope-402"],
)
def test_an_insufficient_balance_refusal_has_its_own_type(wavespeed_client, mocked, status, body):
    mocked.post(SUBMIT_URL, status=status, json=body)

    with pytest.raises(InsufficientBalance):
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert len(posts(mocked)) == 1


def test_a_400_about_something_else_stays_a_bad_request(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, status=400, json={"code": 400, "message": "size must be W*H"})

    with pytest.raises(BadRequest) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert type(caught.value) is BadRequest


@pytest.mark.parametrize(
    "code,error",
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (429, RateLimited),
        (1200, BadRequest),  # task codes: content moderation and invalid parameters are refusals ...
        (1401, BadRequest),
        ("1401", BadRequest),
        (500, AmbiguousSubmit),  # ... a server-side failure inside a 200 is not: the task may exist
        (503, AmbiguousSubmit),
        (5003, AmbiguousSubmit),
    ],
)
def test_envelope_code_other_than_200_in_an_http_200_is_an_error(wavespeed_client, mocked, code, error):
    mocked.post(SUBMIT_URL, json={"code": code, "message": "refused inside the envelope", "data": None})

    with pytest.raises(error) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)

    assert "refused inside the envelope" in caught.value.message
    assert caught.value.code == code
    assert len(posts(mocked)) == 1


def test_envelope_code_given_as_text_200_is_success(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, json={"code": "200", "message": "success", "data": prediction()})

    assert wavespeed_client.submit("https://files.example/s.jpg", PARAMS).id == "p1"


def test_error_body_that_is_not_json_keeps_its_text(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, status=502, body="<html>Bad gateway from the edge</html>", content_type="text/html")

    with pytest.raises(AmbiguousSubmit) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)

    assert "Bad gateway from the edge" in caught.value.message


def test_submit_answered_200_with_a_non_json_body_is_ambiguous(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, body="<html>oops</html>", content_type="text/html")

    with pytest.raises(AmbiguousSubmit):
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert len(posts(mocked)) == 1


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))),
    ],
    ids=["read-timeout", "connection-dropped"],
)
def test_submit_without_an_answer_is_ambiguous_and_sent_once(wavespeed_client, mocked, failure):
    mocked.post(SUBMIT_URL, body=failure)

    with pytest.raises(AmbiguousSubmit):
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert len(posts(mocked)) == 1
    assert wavespeed_client.requests_sent == 1


def test_submit_connect_timeout_is_a_plain_server_error(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(ServerError) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert not isinstance(caught.value, AmbiguousSubmit)
    assert len(posts(mocked)) == 1


def test_submit_to_an_unresolvable_host_is_a_plain_server_error(wavespeed_client, mocked):
    """A name that does not resolve means nothing was sent: the job may safely go out again later."""
    unresolved = NameResolutionError("api.wavespeed.test", None, socket.gaierror(-2, "Name or service not known"))
    mocked.post(SUBMIT_URL, body=requests.ConnectionError(MaxRetryError(None, SUBMIT_URL, unresolved)))

    with pytest.raises(ServerError) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert not isinstance(caught.value, AmbiguousSubmit)


def test_submit_to_a_closed_port_is_a_plain_server_error():
    """A real refused connection (a local port nobody listens on), without `responses`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    wavespeed_client = WaveSpeedClient(api_key=KEY, base_url=f"http://127.0.0.1:{port}", retry_backoff=0, timeout=(2, 2))

    with pytest.raises(ServerError) as caught:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)
    assert not isinstance(caught.value, AmbiguousSubmit)


def test_submit_prediction_without_id_is_ambiguous(wavespeed_client, mocked):
    mocked.post(SUBMIT_URL, json=envelope({"status": "created"}))

    with pytest.raises(AmbiguousSubmit):
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)


# --- results ----------------------------------------------------------------------------------------


def test_get_result_retries_429_5xx_and_malformed_then_succeeds(wavespeed_client, mocked):
    mocked.get(RESULT_URL, status=429, json={"message": "too many requests", "error_code": 429})
    mocked.get(RESULT_URL, status=503, json={"code": 503, "message": "unavailable"})
    mocked.get(RESULT_URL, body="not json at all")
    done = prediction(status="completed", outputs=["https://cdn.example/o.png"], has_nsfw_contents=[False])
    mocked.get(RESULT_URL, json=envelope(done))

    result = wavespeed_client.get_result("p1")

    assert result.status == "completed"
    assert result.outputs == ["https://cdn.example/o.png"]
    assert len(mocked.calls) == 4
    assert all(call.request.headers["Authorization"] == f"Bearer {KEY}" for call in mocked.calls)


def test_get_result_retries_network_errors(wavespeed_client, mocked):
    mocked.get(RESULT_URL, body=requests.ReadTimeout("slow"))
    mocked.get(RESULT_URL, json=envelope(prediction(status="processing")))

    assert wavespeed_client.get_result("p1").status == "processing"
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("retries", [0, 2])
def test_get_result_gives_up_after_the_retries(mocked, retries):
    wavespeed_client = WaveSpeedClient(api_key=KEY, base_url=BASE, retry_backoff=0, retries=retries)
    mocked.get(RESULT_URL, status=500, json={"code": 500, "message": "internal"})

    with pytest.raises(ServerError, match="internal"):
        wavespeed_client.get_result("p1")
    assert len(mocked.calls) == retries + 1


def test_get_result_gives_up_on_429(wavespeed_client, mocked):
    mocked.get(RESULT_URL, status=429, json={"message": "slow down", "error_code": 429})

    with pytest.raises(RateLimited):
        wavespeed_client.get_result("p1")
    assert len(mocked.calls) == 4


@pytest.mark.parametrize("status,error", [(404, NotFound), (400, BadRequest), (401, Unauthorized)])
def test_get_result_does_not_retry_final_answers(wavespeed_client, mocked, status, error):
    mocked.get(RESULT_URL, status=status, json={"code": status, "message": "final"})

    with pytest.raises(error):
        wavespeed_client.get_result("p1")
    assert len(mocked.calls) == 1


def test_get_result_with_an_unknown_status_is_still_running_and_logged_once(wavespeed_client, mocked, caplog):
    """An unknown future status costs one poll, not a burst of retries, and is logged once per value."""
    caplog.set_level(logging.WARNING, logger="wavespeed_api.answers")
    status = f"warming-up-{uuid.uuid4().hex[:6]}"  # logged once per process: a value no other test used
    mocked.get(RESULT_URL, json=envelope(prediction(status=status)))

    first, second = wavespeed_client.get_result("p1"), wavespeed_client.get_result("p1")

    assert first.status == second.status == status
    assert not first.finished
    assert len(mocked.calls) == 2
    assert caplog.text.count(status) == 1


def test_get_result_envelope_without_data_is_malformed(wavespeed_client, mocked):
    mocked.get(RESULT_URL, json={"code": 200, "message": "success", "data": None})

    with pytest.raises(MalformedResponse):
        wavespeed_client.get_result("p1")


# --- prediction parsing ---------------------------------------------------------------------------


def test_completed_prediction_is_read_whole():
    data = prediction(
        status="completed",
        outputs=["https://cdn.example/a.jpg", "https://cdn.example/b.jpg"],
        has_nsfw_contents=[False, True],
        timings={"inference": 1234.7},
    )

    result = Prediction.from_data(data)

    assert result.outputs == ["https://cdn.example/a.jpg", "https://cdn.example/b.jpg"]
    assert result.has_nsfw_contents == [False, True]
    assert result.inference_ms == 1234
    assert result.error == ""


def test_failed_prediction_keeps_error_and_code():
    result = Prediction.from_data(prediction(status="failed", error="content moderation", code=1200))

    assert result.status == "failed"
    assert result.error == "content moderation"
    assert result.error_code == "1200"
    assert result.outputs == []


def test_the_task_code_is_read_from_code_before_error_code():
    """Issue 13, problem 3: WaveSpeed puts a failed task's code in `code`; `error_code` is only a fallback."""
    both = Prediction.from_data(prediction(status="failed", code=1402, error_code=5003))
    fallback = Prediction.from_data(prediction(status="failed", code=0, error_code=5003))
    success = Prediction.from_data(prediction(status="completed", code=0))

    assert (both.error_code, fallback.error_code, success.error_code) == ("1402", "5003", "")


@pytest.mark.parametrize("status", ["created", "pending", "processing", "completed", "failed", "cancelled", "timeout"])
def test_every_documented_status_is_accepted(wavespeed_client, mocked, status):
    """Issue 13, problem 2: `cancelled` and `timeout` (the SDK's and CLI's) are final answers, read in one GET."""
    mocked.get(RESULT_URL, json=envelope(prediction(status=status)))

    result = wavespeed_client.get_result("p1")

    assert result.status == status
    assert result.finished == (status in ("completed", "failed", "cancelled", "timeout"))
    assert len(mocked.calls) == 1


def test_missing_timings_and_null_lists_are_empty():
    data = {"id": "p1", "status": "processing", "outputs": None, "has_nsfw_contents": None}

    result = Prediction.from_data(data)

    assert (result.outputs, result.has_nsfw_contents, result.inference_ms) == ([], [], None)


@pytest.mark.parametrize(
    "data",
    [
        {"status": "created"},
        {"id": "p1"},
        prediction(timings={"inference": "fast"}),
        prediction(timings="soon"),
    ],
    ids=["no-id", "no-status", "text-inference", "timings-not-object"],
)
def test_unreadable_predictions_are_malformed(data):
    with pytest.raises(MalformedResponse):
        Prediction.from_data(data)


# --- media, delete, balance, webhook secret --------------------------------------------------------


def test_upload_media_sends_multipart_field_file_and_returns_download_url(wavespeed_client, mocked):
    url = f"{BASE}/api/v3/media/upload/binary"
    data = {"type": "image", "download_url": "https://files.example/u/abc.png", "filename": "abc.png", "size": 8}
    mocked.post(url, json=envelope(data))

    assert wavespeed_client.upload_media("abc.png", b"\x89PNG1234", "image/png") == "https://files.example/u/abc.png"
    request = mocked.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="abc.png"' in request.body
    assert b"Content-Type: image/png" in request.body
    assert b"\x89PNG1234" in request.body
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_upload_media_retries_5xx(wavespeed_client, mocked):
    url = f"{BASE}/api/v3/media/upload/binary"
    mocked.post(url, status=502, body="bad gateway")
    mocked.post(url, json=envelope({"download_url": "https://files.example/u/x.jpg"}))

    assert wavespeed_client.upload_media("x.jpg", b"bytes", "image/jpeg") == "https://files.example/u/x.jpg"
    assert len(mocked.calls) == 2


def test_upload_media_without_download_url_is_malformed(wavespeed_client, mocked):
    mocked.post(f"{BASE}/api/v3/media/upload/binary", json=envelope({"type": "image"}))

    with pytest.raises(MalformedResponse):
        wavespeed_client.upload_media("x.jpg", b"bytes", "image/jpeg")


def test_upload_media_too_large_is_a_bad_request(wavespeed_client, mocked):
    mocked.post(f"{BASE}/api/v3/media/upload/binary", status=400, json={"code": 400, "message": "file too large"})

    with pytest.raises(BadRequest, match="file too large"):
        wavespeed_client.upload_media("x.jpg", b"bytes", "image/jpeg")
    assert len(mocked.calls) == 1


BATCH_DELETE_URL = f"{BASE}/api/v3/predictions/delete"
ONE_DELETE_URL = f"{BASE}/api/v3/predictions/p1"


def test_delete_uses_the_api_references_batch_form(wavespeed_client, mocked):
    """Issue 13, problem 4: `POST /api/v3/predictions/delete {"ids": [...]}` answered with deleted_count."""
    mocked.post(BATCH_DELETE_URL, json=envelope({"deleted_count": 1}))

    wavespeed_client.delete_prediction("p1")

    assert json.loads(mocked.calls[0].request.body) == {"ids": ["p1"]}
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("status", [404, 405])
def test_delete_falls_back_to_the_per_id_form_and_remembers(wavespeed_client, mocked, status):
    mocked.post(BATCH_DELETE_URL, status=status, json={"code": status, "message": "no such route"})
    mocked.delete(ONE_DELETE_URL, json=envelope({"status": "deleted"}))

    wavespeed_client.delete_prediction("p1")
    wavespeed_client.delete_prediction("p1")

    assert [call.request.method for call in mocked.calls] == ["POST", "DELETE", "DELETE"]


def test_a_delete_of_an_unknown_prediction_is_not_taken_as_deleted(wavespeed_client, mocked):
    """A task WaveSpeed does not find may still run and charge: the caller must hear so."""
    mocked.post(BATCH_DELETE_URL, json=envelope({"deleted_count": 0}))

    with pytest.raises(NotFound):
        wavespeed_client.delete_prediction("p1")


def test_a_per_id_delete_answered_404_is_not_taken_as_deleted(wavespeed_client, mocked):
    wavespeed_client.delete_by_ids = False
    mocked.delete(ONE_DELETE_URL, status=404, json={"code": 404, "message": "not found"})

    with pytest.raises(NotFound):
        wavespeed_client.delete_prediction("p1")
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("status,error", [(400, BadRequest), (403, Forbidden)])
def test_a_refused_delete_raises_at_once(wavespeed_client, mocked, status, error):
    mocked.post(BATCH_DELETE_URL, status=status, json={"code": status, "message": "not allowed"})

    with pytest.raises(error):
        wavespeed_client.delete_prediction("p1")
    assert len(mocked.calls) == 1


def test_delete_retries_5xx_a_bounded_number_of_times(wavespeed_client, mocked):
    mocked.post(BATCH_DELETE_URL, status=500, json={"code": 500, "message": "oops"})

    with pytest.raises(ServerError):
        wavespeed_client.delete_prediction("p1")
    assert len(mocked.calls) == wavespeed_client.retries + 1


# --- price ----------------------------------------------------------------------------------------

PRICE_URL = f"{BASE}/api/v3/model/price"
PRICING_URL = f"{BASE}/api/v3/model/pricing"


def test_price_reads_price_and_discounted_price(wavespeed_client, mocked):
    """Issue 13, problem 5: what is charged is the discounted price when WaveSpeed gives one."""
    mocked.post(PRICE_URL, json=envelope({"price": 0.05, "discounted_price": "0.0375"}))

    quote = wavespeed_client.price(PARAMS)

    assert (quote.price, quote.charged, quote.endpoint) == (Decimal("0.05"), Decimal("0.0375"), "price")
    body = json.loads(mocked.calls[0].request.body)
    assert body["model_id"] == "wavespeed-ai/flux-redux-dev"
    assert "seed" not in body["inputs"] and body["inputs"]["num_images"] == 2


def test_price_without_a_discount_charges_the_price(wavespeed_client, mocked):
    mocked.post(PRICE_URL, json={"price": "0.025"})  # bare, as the CLI reads it

    assert wavespeed_client.price(PARAMS).charged == Decimal("0.025")


@pytest.mark.parametrize(
    "first",
    [
        {"status": 404, "json": {"code": 404, "message": "no such route"}},
        {"status": 200, "json": envelope({"currency": "USD"})},
        {"status": 500, "json": {"code": 500, "message": "down"}},
    ],
    ids=["404", "no-number", "5xx"],
)
def test_price_falls_back_to_the_pricing_endpoint(wavespeed_client, mocked, first):
    mocked.post(PRICE_URL, **first)
    mocked.post(PRICING_URL, json=envelope({"unit_price": 0.025}))

    quote = wavespeed_client.price(PARAMS)

    assert (quote.charged, quote.endpoint) == (Decimal("0.050"), "pricing")  # 2 images


def test_price_unknown_at_both_endpoints_raises_never_zero(wavespeed_client, mocked):
    mocked.post(PRICE_URL, status=404, json={"code": 404, "message": "no"})
    mocked.post(PRICING_URL, json=envelope({"unit_price": -1}))

    with pytest.raises(MalformedResponse):
        wavespeed_client.price(PARAMS)


def test_price_with_a_refused_key_does_not_try_the_other_endpoint(wavespeed_client, mocked):
    mocked.post(PRICE_URL, status=401, json={"code": 401, "message": "bad key"})

    with pytest.raises(Unauthorized):
        wavespeed_client.price(PARAMS)
    assert len(mocked.calls) == 1


# --- history --------------------------------------------------------------------------------------

HISTORY_URL = f"{BASE}/api/v3/predictions"


def test_history_reads_model_status_and_every_time_shape(wavespeed_client, mocked):
    """Issue 13, problem 7: nanoseconds, naive (UTC) and unreadable timestamps never raise; other models show."""
    items = [
        {"id": "a", "model": "wavespeed-ai/flux-redux-dev", "status": "completed", "created_at": "2025-05-20T12:34:56.123456789Z"},
        {"id": "b", "model": "wavespeed-ai/flux-redux-dev", "status": "processing", "created_at": "2025-05-20T12:34:50"},
        {"id": "c", "model": "someone/else", "status": "failed", "created_at": "2025-05-20 14:34:40.5+02:00"},
        {"id": "d", "model": "wavespeed-ai/flux-redux-dev", "status": "created", "created_at": "yesterday"},
    ]
    mocked.post(HISTORY_URL, json=envelope({"page": 1, "total": 4, "items": items}))

    listed = wavespeed_client.history()

    utc = datetime.timezone.utc
    assert [(item.id, item.model, item.status) for item in listed] == [
        ("a", "wavespeed-ai/flux-redux-dev", "completed"),
        ("b", "wavespeed-ai/flux-redux-dev", "processing"),
        ("c", "someone/else", "failed"),
        ("d", "wavespeed-ai/flux-redux-dev", "created"),
    ]
    assert [item.created_at for item in listed] == [
        datetime.datetime(2025, 5, 20, 12, 34, 56, 123456, tzinfo=utc),
        datetime.datetime(2025, 5, 20, 12, 34, 50, tzinfo=utc),
        datetime.datetime(2025, 5, 20, 12, 34, 40, 500000, tzinfo=utc),
        None,
    ]
    assert json.loads(mocked.calls[0].request.body) == {"page": 1, "page_size": 100, "model": "wavespeed-ai/flux-redux-dev"}


def test_history_without_items_is_malformed(wavespeed_client, mocked):
    mocked.post(HISTORY_URL, json=envelope({"page": 1}))

    with pytest.raises(MalformedResponse):
        wavespeed_client.history()


def test_balance(wavespeed_client, mocked):
    mocked.get(f"{BASE}/api/v3/balance", json=envelope({"balance": 12.5}))

    assert wavespeed_client.balance() == 12.5
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_balance_without_a_number_is_malformed(wavespeed_client, mocked):
    mocked.get(f"{BASE}/api/v3/balance", json=envelope({"currency": "USD"}))

    with pytest.raises(MalformedResponse):
        wavespeed_client.balance()


def test_balance_with_an_unfunded_key_is_unauthorized(wavespeed_client, mocked):
    mocked.get(f"{BASE}/api/v3/balance", status=401, json={"message": "top up first", "error_code": 401})

    with pytest.raises(Unauthorized, match="top up first"):
        wavespeed_client.balance()


def test_webhook_secret(wavespeed_client, mocked):
    mocked.get(f"{BASE}/api/v3/webhook/secret", json=envelope({"secret": "whsec_abc123"}))

    assert wavespeed_client.webhook_secret() == "whsec_abc123"


def test_webhook_secret_missing_is_malformed(wavespeed_client, mocked):
    mocked.get(f"{BASE}/api/v3/webhook/secret", json=envelope({}))

    with pytest.raises(MalformedResponse):
        wavespeed_client.webhook_secret()


# --- downloads ------------------------------------------------------------------------------------


def test_download_from_wavespeed_itself_sends_the_key(wavespeed_client, mocked):
    url = f"{BASE}/outputs/p1/0.png"
    mocked.get(url, body=b"png-bytes")

    assert wavespeed_client.download(url) == b"png-bytes"
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_download_from_a_foreign_cdn_never_sends_the_key(wavespeed_client, mocked):
    url = "https://cdn.elsewhere.example/outputs/p1/0.png"
    mocked.get(url, body=b"png-bytes")

    assert wavespeed_client.download(url) == b"png-bytes"
    assert "Authorization" not in mocked.calls[0].request.headers


def test_download_from_a_lookalike_host_never_sends_the_key(wavespeed_client, mocked):
    url = "https://api.wavespeed.test.evil.example/o.png"
    mocked.get(url, body=b"x")

    wavespeed_client.download(url)
    assert "Authorization" not in mocked.calls[0].request.headers


def test_download_redirected_to_a_cdn_drops_the_key(wavespeed_client, mocked):
    mocked.get(f"{BASE}/o/0.png", status=302, headers={"Location": "https://cdn.elsewhere.example/0.png"})
    mocked.get("https://cdn.elsewhere.example/0.png", body=b"png-bytes")

    assert wavespeed_client.download(f"{BASE}/o/0.png") == b"png-bytes"
    assert [call.request.url for call in mocked.calls][-1] == "https://cdn.elsewhere.example/0.png"
    assert "Authorization" not in mocked.calls[-1].request.headers


def test_download_over_the_size_cap_is_refused_without_retrying(wavespeed_client, mocked, monkeypatch):
    monkeypatch.setattr(wavespeed_client_module, "MAX_DOWNLOAD_BYTES", 1000)
    url = "https://cdn.example/huge.png"
    mocked.get(url, body=b"x" * 1001)

    with pytest.raises(BadRequest, match="download limit"):
        wavespeed_client.download(url)
    assert len(mocked.calls) == 1


def test_download_at_the_size_cap_is_accepted(wavespeed_client, mocked, monkeypatch):
    monkeypatch.setattr(wavespeed_client_module, "MAX_DOWNLOAD_BYTES", 1000)
    mocked.get("https://cdn.example/ok.png", body=b"x" * 1000)

    assert len(wavespeed_client.download("https://cdn.example/ok.png")) == 1000


def test_download_retries_errors_then_succeeds(wavespeed_client, mocked):
    url = "https://cdn.example/o.png"
    mocked.get(url, status=503, body="busy")
    mocked.get(url, body=requests.ConnectionError("reset"))
    mocked.get(url, status=404, body="not yet")
    mocked.get(url, body=b"finally")

    assert wavespeed_client.download(url) == b"finally"
    assert len(mocked.calls) == 4


def test_download_gives_up_after_the_retries(wavespeed_client, mocked):
    url = "https://cdn.example/o.png"
    mocked.get(url, status=500, body="broken")

    with pytest.raises(ServerError):
        wavespeed_client.download(url)
    assert len(mocked.calls) == 4


# --- secrets --------------------------------------------------------------------------------------


def test_the_key_never_appears_in_errors_or_logs(wavespeed_client, mocked, caplog):
    caplog.set_level(logging.DEBUG, logger="wavespeed_api.client")
    mocked.get(RESULT_URL, status=503, json={"code": 503, "message": "unavailable"})
    mocked.post(SUBMIT_URL, body=requests.ReadTimeout("timed out"))

    with pytest.raises(ServerError) as poll_error:
        wavespeed_client.get_result("p1")
    with pytest.raises(AmbiguousSubmit) as submit_error:
        wavespeed_client.submit("https://files.example/s.jpg", PARAMS)

    assert "retrying" in caplog.text  # the retries were logged ...
    assert KEY not in caplog.text  # ... without the key
    assert KEY not in str(poll_error.value) and KEY not in str(submit_error.value)


# --- one keep-alive pool shared by threads ------------------------------------------------------------------------


def test_threads_sharing_one_client_reuse_connections_and_never_open_more_than_the_pool(simulator):
    """Eight threads, forty calls, a pool of four: at most four connections ever, each used again and again."""
    from concurrent.futures import ThreadPoolExecutor

    client = wavespeed.WaveSpeedClient("test-key", base_url=simulator.base_url,
                                       session=wavespeed_client_module.keep_alive_session(4))
    with ThreadPoolExecutor(8) as pool:
        balances = list(pool.map(lambda _: client.balance(), range(40)))

    pools = client.session.get_adapter(simulator.base_url).poolmanager.pools
    opened = sum(pools[key].num_connections for key in pools.keys())
    assert len(balances) == 40 and client.requests_sent == 40
    assert 1 <= opened <= 4
