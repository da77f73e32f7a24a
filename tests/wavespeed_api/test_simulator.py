"""The WaveSpeed simulator, driven over real HTTP the way the project's client and benchmarks will drive it."""

import base64
import hashlib
import hmac
import io
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from PIL import Image

KEY = "test-key"
SUBMIT = "/api/v3/wavespeed-ai/flux-redux-dev"
FIVE_XX = (500, 502, 503)
MB = 1024 * 1024


def two_tone_image(size=(160, 120), fmt="PNG"):
    """Red on the left, blue on the right: a structure every variation has to keep."""
    image = Image.new("RGB", size, (220, 30, 30))
    image.paste((30, 30, 220), (size[0] // 2, 0, size[0], size[1]))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


SOURCE = "data:image/png;base64," + base64.b64encode(two_tone_image()).decode()


def call(sim, method, path, key=KEY, **kwargs):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.request(method, sim.base_url + path, headers=headers, timeout=10, **kwargs)


def submit(sim, webhook=None, **body):
    return call(sim, "POST", SUBMIT, json={"image": SOURCE, **body}, params={"webhook": webhook} if webhook else None)


def result(sim, prediction_id):
    return call(sim, "GET", f"/api/v3/predictions/{prediction_id}/result")


def wait_until_done(sim, prediction_id, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = result(sim, prediction_id).json()["data"]
        if data["status"] in ("completed", "failed", "cancelled", "timeout"):
            return data
        time.sleep(0.02)
    raise AssertionError(f"prediction {prediction_id} did not finish in {timeout} s")


def open_image(content):
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


def upload(sim, content, filename="source.png", content_type="image/png"):
    return call(sim, "POST", "/api/v3/media/upload/binary", files={"file": (filename, content, content_type)})


# --- submit, lifecycle and outputs --------------------------------------------------------------------------------


def test_prediction_goes_created_processing_completed_with_real_outputs(simulator_factory):
    sim = simulator_factory(latency=0.5)
    response = submit(sim, size="512*768", num_images=2, output_format="png", seed=42)

    assert response.status_code == 200
    assert response.headers["X-Simulator"] == "fluxsite test double"
    body = response.json()
    assert (body["code"], body["message"]) == (200, "success")
    data = body["data"]
    assert data["status"] == "created"
    assert data["model"] == "wavespeed-ai/flux-redux-dev"
    assert data["outputs"] == [] and data["has_nsfw_contents"] == [] and data["error"] == ""
    assert data["urls"]["get"] == f"{sim.base_url}/api/v3/predictions/{data['id']}/result"
    datetime.fromisoformat(data["created_at"])

    time.sleep(0.15)
    assert result(sim, data["id"]).json()["data"]["status"] == "processing"

    done = wait_until_done(sim, data["id"])
    assert done["status"] == "completed"
    assert done["has_nsfw_contents"] == [False, False]
    assert 400 <= done["timings"]["inference"] <= 600
    assert done["outputs"] == [f"{sim.base_url}/outputs/{data['id']}/{n}.png" for n in range(2)]
    files = [requests.get(url, timeout=10) for url in done["outputs"]]  # no Authorization: served like a CDN
    assert all(f.status_code == 200 and f.headers["Content-Type"] == "image/png" for f in files)
    images = [open_image(f.content) for f in files]
    assert [(i.format, i.size) for i in images] == [("PNG", (512, 768))] * 2
    assert files[0].content != files[1].content, "each output index must be its own variation"


def test_outputs_default_to_1024_jpeg_and_depend_only_on_source_seed_and_index(simulator):
    simulator.config.per_minute = 0
    first = wait_until_done(simulator, submit(simulator, seed=7).json()["data"]["id"])
    again = wait_until_done(simulator, submit(simulator, seed=7).json()["data"]["id"])
    other = wait_until_done(simulator, submit(simulator, seed=8).json()["data"]["id"])

    def fetch(prediction):
        return requests.get(prediction["outputs"][0], timeout=10).content

    image = open_image(fetch(first))
    assert (image.format, image.size, image.mode) == ("JPEG", (1024, 1024), "RGB")
    assert first["outputs"][0].endswith("/0.jpeg")
    assert fetch(first) == fetch(again)
    assert fetch(first) != fetch(other)


def test_output_is_a_visible_variation_of_the_source(simulator):
    """The two-tone source keeps its layout (each half one colour, the halves apart) but not its colours."""
    done = wait_until_done(simulator, submit(simulator, size="256*256", output_format="png").json()["data"]["id"])
    output = open_image(requests.get(done["outputs"][0], timeout=10).content)

    def distance(a, b):
        return sum(abs(x - y) for x, y in zip(output.getpixel(a), output.getpixel(b), strict=True))

    assert distance((30, 40), (30, 216)) < 90 and distance((226, 40), (226, 216)) < 90
    assert distance((30, 128), (226, 128)) > 150
    assert sum(abs(x - y) for x, y in zip(output.getpixel((30, 128)), (220, 30, 30), strict=True)) > 60, "re-coloured"


def test_sync_mode_blocks_until_the_prediction_is_done(simulator_factory):
    sim = simulator_factory(latency=0.3)
    started = time.monotonic()
    data = submit(sim, enable_sync_mode=True).json()["data"]
    assert time.monotonic() - started >= 0.29
    assert data["status"] == "completed" and len(data["outputs"]) == 1


def test_base64_output_returns_the_images_inline(simulator):
    data = submit(simulator, enable_base64_output=True, enable_sync_mode=True, size="300*256").json()["data"]
    assert open_image(base64.b64decode(data["outputs"][0])).size == (300, 256)


# --- validation ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("size", "255*512"),
        ("size", "512*1537"),
        ("size", "512x512"),
        ("size", 512),
        ("num_inference_steps", 0),
        ("num_inference_steps", 51),
        ("num_inference_steps", "28"),
        ("num_inference_steps", 28.0),
        ("seed", -2),
        ("seed", 2147483648),
        ("seed", "5"),
        ("guidance_scale", 0.9),
        ("guidance_scale", 20.01),
        ("guidance_scale", "3.5"),
        ("guidance_scale", True),
        ("num_images", 0),
        ("num_images", 5),
        ("num_images", "1"),
        ("num_images", True),
        ("enable_safety_checker", "true"),
        ("enable_safety_checker", 1),
        ("output_format", "webp"),
        ("output_format", "PNG"),
        ("enable_base64_output", "false"),
        ("enable_sync_mode", 0),
        ("image", 123),
        ("image", ""),
    ],
)
def test_invalid_parameters_are_refused_with_a_400_naming_the_field(simulator, field, value):
    response = submit(simulator, **{field: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and field in body["message"]
    assert simulator.stats()["submits"] == 0


def test_missing_image_and_non_json_bodies_are_400(simulator):
    missing = call(simulator, "POST", SUBMIT, json={"size": "512*512"})
    assert (missing.status_code, missing.json()["code"]) == (400, 400)
    assert "image" in missing.json()["message"]
    assert call(simulator, "POST", SUBMIT, data="{not json").status_code == 400
    assert call(simulator, "POST", SUBMIT, json=["image"]).status_code == 400


def test_boundary_values_are_accepted(simulator):
    simulator.config.concurrency = simulator.config.per_minute = 0
    for body in (
        {"size": "256*1536", "num_inference_steps": 1, "seed": -1, "guidance_scale": 1, "num_images": 4},
        {"size": "1536*256", "num_inference_steps": 50, "seed": 2147483647, "guidance_scale": 20.0},
        {"seed": 0, "guidance_scale": 3.5, "enable_safety_checker": False, "output_format": "png"},
    ):
        assert submit(simulator, **body).status_code == 200, body


def test_base64_output_is_refused_together_with_a_webhook(simulator):
    response = submit(simulator, webhook="http://127.0.0.1:9/hook", enable_base64_output=True)
    assert response.status_code == 400
    assert "enable_base64_output" in response.json()["message"]


# --- auth and limits ----------------------------------------------------------------------------------------------

API_CALLS = [
    ("POST", SUBMIT, {"json": {"image": SOURCE}}),
    ("GET", "/api/v3/predictions/abc/result", {}),
    ("DELETE", "/api/v3/predictions/abc", {}),
    ("POST", "/api/v3/predictions", {"json": {"page": 1}}),
    ("POST", "/api/v3/media/upload/binary", {"files": {"file": ("a.png", b"x", "image/png")}}),
    ("GET", "/api/v3/balance", {}),
    ("GET", "/api/v3/webhook/secret", {}),
    ("POST", "/api/v3/model/price", {"json": {"model_id": "wavespeed-ai/flux-redux-dev", "inputs": {}}}),
]


@pytest.mark.parametrize("method, path, kwargs", API_CALLS)
def test_every_api_endpoint_needs_a_bearer_key(simulator, method, path, kwargs):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": f"Token {KEY}"}):
        response = requests.request(method, simulator.base_url + path, headers=headers, timeout=10, **kwargs)
        assert response.status_code == 401
        assert response.json() == {"code": 401, "message": "Unauthorized"}


def test_a_configured_key_is_the_only_one_accepted_and_can_flip_mid_run(simulator):
    simulator.config.api_key = KEY
    assert call(simulator, "GET", "/api/v3/balance").status_code == 200
    assert call(simulator, "GET", "/api/v3/balance", key="wrong").status_code == 401
    prediction_id = submit(simulator).json()["data"]["id"]

    simulator.config.api_key = "rotated"
    assert result(simulator, prediction_id).status_code == 401
    assert call(simulator, "GET", "/api/v3/balance", key="rotated").status_code == 200
    assert simulator.stats()["rejected_401"] == 2


def test_over_the_concurrency_limit_a_task_waits_for_a_slot(simulator_factory):
    """As WaveSpeed's account-levels page says: "if you submit a 4th, it will wait until one finishes"."""
    sim = simulator_factory(latency=0.3, concurrency=2, per_minute=0)
    ids = [submit(sim).json()["data"]["id"] for _ in range(3)]

    assert result(sim, ids[2]).json()["data"]["status"] == "created"  # waiting
    done = [wait_until_done(sim, prediction_id) for prediction_id in ids]

    assert [d["status"] for d in done] == ["completed"] * 3
    finished = {pid: sim.stats()["predictions"][pid]["finished_at"] for pid in ids}
    assert finished[ids[2]] >= min(finished[ids[0]], finished[ids[1]]) + 0.25  # it ran only once a slot freed
    stats = sim.stats()
    assert (stats["rejected_429"], stats["waited"]) == (0, 1)


def test_concurrency_limit_answers_429_until_a_slot_frees_when_set_to_refuse(simulator_factory):
    sim = simulator_factory(latency=0.4, concurrency=2, per_minute=0, over_concurrency="refuse")
    first = submit(sim).json()["data"]["id"]
    assert submit(sim).status_code == 200

    refused = submit(sim)
    assert refused.status_code == 429
    assert refused.json()["code"] == 429 and refused.json()["message"]

    call(sim, "DELETE", f"/api/v3/predictions/{first}")
    third = submit(sim)
    assert third.status_code == 200, "a deleted prediction frees its slot"
    assert submit(sim).status_code == 429
    wait_until_done(sim, third.json()["data"]["id"])
    assert submit(sim).status_code == 200, "a finished prediction frees its slot"

    stats = sim.stats()
    assert (stats["rejected_429"], stats["max_in_flight"]) == (2, 2)


def test_concurrency_is_counted_per_key(simulator_factory):
    sim = simulator_factory(latency=0.4, concurrency=1, per_minute=0, over_concurrency="refuse")
    assert submit(sim).status_code == 200
    other_key = call(sim, "POST", SUBMIT, key="another-key", json={"image": SOURCE})
    assert other_key.status_code == 200


def test_per_minute_limit_counts_images_not_requests(simulator_factory):
    sim = simulator_factory(latency=0.05, concurrency=0, per_minute=3)
    assert submit(sim, num_images=2).status_code == 200
    assert submit(sim, num_images=2).status_code == 429
    assert submit(sim, num_images=1).status_code == 200
    time.sleep(0.1)  # finished predictions still count against the minute
    refused = submit(sim)
    assert (refused.status_code, refused.json()["code"]) == (429, 429)
    assert sim.stats()["submits"] == 2


def test_zero_limits_mean_unlimited(simulator_factory):
    sim = simulator_factory(latency=1.0, concurrency=0, per_minute=0)
    assert all(submit(sim, num_images=4).status_code == 200 for _ in range(6))
    assert sim.stats()["max_in_flight"] == 6


# --- delete, listing and the small endpoints ----------------------------------------------------------------------


def test_delete_removes_the_prediction(simulator):
    prediction_id = submit(simulator).json()["data"]["id"]

    deleted = call(simulator, "DELETE", f"/api/v3/predictions/{prediction_id}")
    assert deleted.json() == {"code": 200, "message": "success", "data": {"status": "deleted"}}
    assert result(simulator, prediction_id).status_code == 404
    assert call(simulator, "DELETE", f"/api/v3/predictions/{prediction_id}").status_code == 404
    assert call(simulator, "DELETE", "/api/v3/predictions/nope").json()["code"] == 404
    stats = simulator.stats()
    assert stats["deletes"] == 1 and stats["predictions"][prediction_id]["status"] == "deleted"


def test_delete_by_ids_answers_how_many_were_deleted(simulator):
    """The API reference's form: POST /api/v3/predictions/delete {"ids": [...]} -> data.deleted_count."""
    first, second = (submit(simulator).json()["data"]["id"] for _ in range(2))

    deleted = call(simulator, "POST", "/api/v3/predictions/delete", json={"ids": [first, second, "unknown"]})
    again = call(simulator, "POST", "/api/v3/predictions/delete", json={"ids": [first]})

    assert deleted.json()["data"] == {"deleted_count": 2}
    assert again.json()["data"] == {"deleted_count": 0}
    assert result(simulator, first).status_code == 404
    assert call(simulator, "POST", "/api/v3/predictions/delete", json={"ids": []}).status_code == 400


def test_unknown_prediction_is_404(simulator):
    response = result(simulator, "does-not-exist")
    assert response.status_code == 404 and response.json()["code"] == 404


def test_listing_pages_through_the_keys_own_predictions(simulator_factory):
    sim = simulator_factory(latency=0.05, per_minute=0, concurrency=0)
    ids = [submit(sim).json()["data"]["id"] for _ in range(3)]
    call(sim, "POST", SUBMIT, key="someone-else", json={"image": SOURCE})
    time.sleep(0.1)

    page = call(sim, "POST", "/api/v3/predictions", json={"page": 1, "page_size": 2}).json()["data"]
    assert [item["id"] for item in page["items"]] == ids[::-1][:2]
    assert (page["page"], page["total"]) == (1, 3)
    completed = call(sim, "POST", "/api/v3/predictions", json={"page": 2, "page_size": 2, "status": "completed"})
    assert [item["id"] for item in completed.json()["data"]["items"]] == ids[:1]
    assert call(sim, "POST", "/api/v3/predictions", json={"page_size": 101}).status_code == 400


def test_balance_secret_and_price(simulator):
    assert call(simulator, "GET", "/api/v3/balance").json()["data"]["balance"] == 100.0
    secret = call(simulator, "GET", "/api/v3/webhook/secret").json()["data"]["secret"]
    assert secret.startswith("whsec_") and secret == simulator.config.webhook_secret
    price = call(
        simulator,
        "POST",
        "/api/v3/model/price",
        json={"model_id": "wavespeed-ai/flux-redux-dev", "inputs": {"num_images": 4}},
    )
    assert price.json()["data"] == {"model_id": "wavespeed-ai/flux-redux-dev", "price": 0.1}
    assert call(simulator, "POST", "/api/v3/model/price", json={"inputs": {}}).status_code == 400


def test_both_price_endpoints_and_a_discount(simulator):
    body = {"model_id": "wavespeed-ai/flux-redux-dev", "inputs": {"num_images": 2}}
    simulator.config.discount = 0.2
    simulator.config.price_per_image = 0.03

    price = call(simulator, "POST", "/api/v3/model/price", json=body).json()["data"]
    pricing = call(simulator, "POST", "/api/v3/model/pricing", json=body).json()["data"]

    assert (price["price"], price["discounted_price"]) == (0.06, 0.048)
    assert pricing == {"model_id": "wavespeed-ai/flux-redux-dev", "unit_price": 0.03}


def test_unknown_routes_and_methods(simulator):
    assert call(simulator, "GET", "/api/v3/nothing-here").status_code == 404
    wrong_method = call(simulator, "GET", SUBMIT)
    assert wrong_method.status_code == 405 and wrong_method.headers["X-Simulator"] == "fluxsite test double"


# --- media upload -------------------------------------------------------------------------------------------------


def test_upload_round_trip_and_use_as_source(simulator):
    content = two_tone_image((320, 240))
    response = upload(simulator, content, filename="../my photo.png")

    data = response.json()["data"]
    assert data["type"] == "image" and data["size"] == len(content)
    assert data["filename"] == "my_photo.png"
    assert data["download_url"].startswith(f"{simulator.base_url}/media/") and data["download_url"].endswith(
        "/my_photo.png"
    )
    served = requests.get(data["download_url"], timeout=10)  # no Authorization, like a CDN
    assert served.content == content and served.headers["Content-Type"] == "image/png"

    done = wait_until_done(
        simulator, submit(simulator, image=data["download_url"], size="256*256").json()["data"]["id"]
    )
    assert done["status"] == "completed"
    assert simulator.stats()["uploads"] == 1


def test_upload_keeps_binary_bytes_exactly(simulator):
    content = bytes(range(256)) * 64 + b"\r\n--\r\n\r\n"
    data = upload(simulator, content, filename="raw.bin", content_type="application/octet-stream").json()["data"]
    assert requests.get(data["download_url"], timeout=10).content == content


def test_upload_limit_is_20_mb(simulator):
    assert upload(simulator, b"\0" * (20 * MB)).status_code == 200
    too_big = upload(simulator, b"\0" * (20 * MB + 1))
    assert (too_big.status_code, too_big.json()["code"]) == (400, 400)
    assert "20 MB" in too_big.json()["message"]


def test_upload_needs_a_multipart_file_field(simulator):
    path = "/api/v3/media/upload/binary"
    assert call(simulator, "POST", path, files={"other": ("a.png", b"x")}).status_code == 400
    raw = requests.post(
        simulator.base_url + path,
        data=b"x",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "image/png"},
        timeout=10,
    )
    assert raw.status_code == 400
    assert call(simulator, "POST", path, json={"file": "x"}).status_code == 400


# --- fault injection ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [1200, 1403, 5003])
def test_injected_failures_end_failed_with_an_error_code(simulator_factory, code):
    sim = simulator_factory(latency=0.05, fail_rate=1.0, fail_codes=[code])
    done = wait_until_done(sim, submit(sim).json()["data"]["id"])
    assert done["status"] == "failed"
    assert done["code"] == code and done["error"]  # where WaveSpeed puts it
    assert "error_code" not in done
    assert done["outputs"] == [] and done["has_nsfw_contents"] == []
    assert sim.stats()["predictions"][done["id"]]["status"] == "failed"


@pytest.mark.parametrize("status", ["cancelled", "timeout"])
def test_tasks_can_end_cancelled_or_timed_out(simulator_factory, status):
    sim = simulator_factory(latency=0.05, **{"cancelled": {"cancel_rate": 1.0}, "timeout": {"timeout_rate": 1.0}}[status])
    done = wait_until_done(sim, submit(sim).json()["data"]["id"])

    assert done["status"] == status
    assert done["outputs"] == [] and done["error"]
    assert "code" not in done


def test_a_submit_can_fail_or_time_out_after_the_task_was_created(simulator_factory):
    """The faults that make a submit ambiguous: the task exists (and is charged) whatever the answer said."""
    sim = simulator_factory(latency=0.05, submit_error_rate=1.0)
    failed = submit(sim)
    sim.config.submit_error_rate, sim.config.submit_timeout_rate, sim.config.slow_seconds = 0.0, 1.0, 3.0
    with pytest.raises(requests.ReadTimeout):
        requests.post(sim.base_url + SUBMIT, json={"image": SOURCE}, headers={"Authorization": f"Bearer {KEY}"}, timeout=(2, 0.5))

    assert failed.status_code in FIVE_XX
    stats = sim.stats()
    assert stats["submits"] == 2 and len(stats["predictions"]) == 2
    assert stats["faults"]["submit_error"] == stats["faults"]["submit_timeout"] == 1


def test_the_history_holds_other_clients_tasks_and_nanosecond_times(simulator_factory):
    sim = simulator_factory(latency=0.05, per_minute=0, concurrency=0, foreign_rate=1.0)
    mine = submit(sim).json()["data"]["id"]

    items = call(sim, "POST", "/api/v3/predictions", json={"page": 1, "page_size": 10}).json()["data"]["items"]

    assert len(items) == 2 and mine in {item["id"] for item in items}
    assert {item["model"] for item in items} == {"wavespeed-ai/flux-redux-dev"}
    assert all(len(item["created_at"]) == len("2025-05-20T12:34:56.123456789Z") for item in items)
    stats = sim.stats()
    assert stats["foreign"] == 1 and sum(p["foreign"] for p in stats["predictions"].values()) == 1


@pytest.mark.parametrize(
    "image", ["http://127.0.0.1:9/unreachable.png", "data:image/png;base64,bm90IGFuIGltYWdl", "ftp://example.com/a.png"]
)
def test_a_source_that_cannot_be_read_fails_with_1402(simulator, image):
    response = submit(simulator, image=image)
    assert response.status_code == 200, "WaveSpeed accepts the task and fails it later"
    done = wait_until_done(simulator, response.json()["data"]["id"])
    assert (done["status"], done["code"]) == ("failed", 1402)
    assert "media URL not accessible" in done["error"]


def test_a_source_from_another_http_server_is_fetched(simulator_factory):
    source_server = simulator_factory()
    url = upload(source_server, two_tone_image((300, 300), "JPEG"), filename="s.jpg", content_type="image/jpeg").json()[
        "data"
    ]["download_url"]
    sim = simulator_factory(latency=0.05)
    assert wait_until_done(sim, submit(sim, image=url).json()["data"]["id"])["status"] == "completed"


def test_nsfw_flags_follow_the_rate_and_the_safety_checker(simulator_factory):
    sim = simulator_factory(latency=0.05, nsfw_rate=1.0, per_minute=0)
    flagged = wait_until_done(sim, submit(sim, num_images=3).json()["data"]["id"])
    unchecked = wait_until_done(sim, submit(sim, num_images=3, enable_safety_checker=False).json()["data"]["id"])
    assert flagged["has_nsfw_contents"] == [True, True, True]
    assert unchecked["has_nsfw_contents"] == [False, False, False]


def test_poll_errors_and_malformed_bodies(simulator):
    prediction_id = submit(simulator).json()["data"]["id"]

    simulator.config.poll_error_rate = 1.0
    statuses = {result(simulator, prediction_id).status_code for _ in range(12)}
    assert statuses <= set(FIVE_XX) and len(statuses) > 1

    simulator.config.poll_error_rate, simulator.config.malformed_rate = 0.0, 1.0
    malformed = result(simulator, prediction_id)
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        json.loads(malformed.content)

    simulator.config.malformed_rate = 0.0
    assert result(simulator, prediction_id).json()["data"]["id"] == prediction_id
    assert simulator.stats()["faults"] == {
        "poll_error": 12,
        "malformed": 1,
        "download_error": 0,
        "upload_error": 0,
        "slow": 0,
        "submit_error": 0,
        "submit_timeout": 0,
    }


def test_download_and_upload_errors(simulator):
    done = wait_until_done(simulator, submit(simulator).json()["data"]["id"])
    simulator.config.download_error_rate = 1.0
    assert requests.get(done["outputs"][0], timeout=10).status_code == 503
    simulator.config.download_error_rate = 0.0
    assert requests.get(done["outputs"][0], timeout=10).status_code == 200

    simulator.config.upload_error_rate = 1.0
    failed = upload(simulator, b"png")
    assert (failed.status_code, failed.json()["code"]) == (500, 500)


def test_slow_requests_trip_client_timeouts(simulator_factory):
    sim = simulator_factory(slow_rate=1.0, slow_seconds=0.5)
    with pytest.raises(requests.ReadTimeout):
        requests.get(sim.base_url + "/api/v3/balance", headers={"Authorization": f"Bearer {KEY}"}, timeout=0.2)
    assert requests.get(sim.base_url + "/_sim/stats", timeout=0.2).status_code == 200, "control routes are never slow"


def test_the_seed_makes_fault_runs_reproducible(simulator_factory):
    def failure_pattern(sim):
        ids = [submit(sim).json()["data"]["id"] for _ in range(8)]
        time.sleep(0.1)
        return [sim.stats()["predictions"][i]["status"] for i in ids]

    settings = {"latency": 0.05, "fail_rate": 0.5, "concurrency": 0, "per_minute": 0, "seed": 99}
    pattern = failure_pattern(simulator_factory(**settings))
    assert pattern == failure_pattern(simulator_factory(**settings))
    assert set(pattern) == {"completed", "failed"}


# --- webhooks -----------------------------------------------------------------------------------------------------


@pytest.fixture
def webhook_receiver():
    """A tiny HTTP server that records deliveries and answers each with the next queued status (default 200)."""
    deliveries, answers = queue.Queue(), queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            deliveries.put((dict(self.headers), raw, time.monotonic()))
            status = answers.get_nowait() if not answers.empty() else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.deliveries, server.answers = deliveries, answers
    yield server
    server.shutdown()
    server.server_close()


def expected_signature(secret, headers, raw_body):
    key = secret.removeprefix("whsec_").encode()
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + raw_body
    return "v3," + hmac.new(key, signed, hashlib.sha256).hexdigest()


def test_webhook_delivers_the_bare_signed_prediction(simulator, webhook_receiver):
    secret = call(simulator, "GET", "/api/v3/webhook/secret").json()["data"]["secret"]
    prediction_id = submit(simulator, webhook=webhook_receiver.url).json()["data"]["id"]

    headers, raw, _ = webhook_receiver.deliveries.get(timeout=5)
    assert hmac.compare_digest(headers["webhook-signature"], expected_signature(secret, headers, raw))
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    payload = json.loads(raw)
    assert "code" not in payload and "data" not in payload, "the webhook body has no envelope"
    assert (payload["id"], payload["status"]) == (prediction_id, "completed")
    assert len(payload["outputs"]) == 1
    time.sleep(0.1)
    assert webhook_receiver.deliveries.empty(), "a 2xx answer ends the delivery"
    stats = simulator.stats()
    assert (stats["webhooks_sent"], stats["webhook_attempts"]) == (1, 1)


def test_webhook_is_retried_with_the_same_id_after_a_failure(simulator, webhook_receiver):
    simulator.config.fail_rate = 1.0
    webhook_receiver.answers.put(500)
    webhook_receiver.answers.put(503)
    submit(simulator, webhook=webhook_receiver.url)

    attempts = [webhook_receiver.deliveries.get(timeout=5) for _ in range(3)]
    assert len({headers["webhook-id"] for headers, _, _ in attempts}) == 1
    assert json.loads(attempts[-1][1])["status"] == "failed"
    for headers, raw, _ in attempts:
        assert headers["webhook-signature"] == expected_signature(simulator.config.webhook_secret, headers, raw)
    arrivals = [arrived for _, _, arrived in attempts]
    assert arrivals[1] - arrivals[0] >= 0.05 and arrivals[2] - arrivals[1] >= 0.1, "the backoff doubles"
    time.sleep(0.1)
    assert simulator.stats()["webhook_attempts"] == 3 and simulator.stats()["webhooks_sent"] == 1


def test_webhook_gives_up_after_three_retries(simulator, webhook_receiver):
    for _ in range(4):
        webhook_receiver.answers.put(500)
    submit(simulator, webhook=webhook_receiver.url)
    for _ in range(4):
        webhook_receiver.deliveries.get(timeout=5)
    time.sleep(0.6)
    assert webhook_receiver.deliveries.empty()
    stats = simulator.stats()
    assert (stats["webhook_attempts"], stats["webhooks_sent"], stats["webhooks_failed"]) == (4, 0, 1)


def test_each_prediction_event_has_its_own_webhook_id(simulator, webhook_receiver):
    submit(simulator, webhook=webhook_receiver.url)
    submit(simulator, webhook=webhook_receiver.url)
    first, second = (webhook_receiver.deliveries.get(timeout=5) for _ in range(2))
    assert first[0]["webhook-id"] != second[0]["webhook-id"]
    assert json.loads(first[1])["id"] != json.loads(second[1])["id"]


def test_deleted_predictions_send_no_webhook(simulator, webhook_receiver):
    prediction_id = submit(simulator, webhook=webhook_receiver.url).json()["data"]["id"]
    call(simulator, "DELETE", f"/api/v3/predictions/{prediction_id}")
    with pytest.raises(queue.Empty):
        webhook_receiver.deliveries.get(timeout=0.5)


# --- stats and control routes -------------------------------------------------------------------------------------


def test_stats_count_what_happened(simulator_factory):
    sim = simulator_factory(latency=0.3, per_minute=0, over_concurrency="refuse")
    ids = [submit(sim, num_images=2, seed=5).json()["data"]["id"] for _ in range(3)]
    submit(sim, num_images=9)  # refused: 400
    submit(sim)  # refused: 429

    running = sim.stats()["predictions"][ids[0]]
    assert running["status"] in ("created", "processing") and running["finished_at"] is None

    done = [wait_until_done(sim, prediction_id) for prediction_id in ids]
    for url in done[0]["outputs"]:
        requests.get(url, timeout=10)

    stats = sim.stats()
    assert (stats["submits"], stats["submit_requests"], stats["rejected_429"], stats["rejected_400"]) == (3, 5, 1, 1)
    assert stats["max_in_flight"] == 3 and stats["in_flight"] == 0
    assert stats["downloads"] == 2
    assert stats["polls"] == sum(stats["polls_by_prediction"].values())
    assert set(stats["polls_by_prediction"]) == set(ids)
    entry = stats["predictions"][ids[0]]
    assert entry["status"] == "completed" and entry["num_images"] == 2 and entry["seed"] == 5
    assert entry["image"].startswith("data:image/png;base64,")
    assert entry["finished_at"] - entry["submitted_at"] == pytest.approx(0.3, abs=0.01)
    assert requests.get(sim.base_url + "/_sim/stats", timeout=10).json()["submits"] == 3


def test_max_in_flight_keeps_peaks_that_nobody_read(simulator_factory):
    sim = simulator_factory(latency=0.1, concurrency=0, per_minute=0)
    for _ in range(3):
        submit(sim)
    time.sleep(0.2)
    assert sim.stats()["max_in_flight"] == 3


def test_config_route_changes_settings_at_runtime(simulator):
    url = simulator.base_url + "/_sim/config"
    changed = requests.post(url, json={"fail_rate": 1, "fail_codes": [5000], "api_key": "new"}, timeout=10)
    assert changed.status_code == 200 and changed.json()["fail_rate"] == 1.0
    assert (simulator.config.fail_codes, simulator.config.api_key) == ([5000], "new")
    assert requests.post(url, json={"no_such_setting": 1}, timeout=10).status_code == 400
    assert requests.post(url, json={"latency": "fast"}, timeout=10).status_code == 400
    assert requests.post(url, json={"concurrency": 1.5}, timeout=10).status_code == 400
    assert simulator.config.concurrency == 3


# --- the management command ---------------------------------------------------------------------------------------


@pytest.mark.integration
def test_management_command_serves_until_interrupted():
    project = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "wavespeed_simulator",
            "--port",
            "0",
            "--api-key",
            "cli-key",
            "--fail-code",
            "5000",
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = process.stdout.readline()
        assert "test double" in banner.lower()
        base_url = banner.split()[-1]
        assert (
            requests.get(
                base_url + "/api/v3/balance", headers={"Authorization": "Bearer cli-key"}, timeout=5
            ).status_code
            == 200
        )
        assert requests.get(base_url + "/_sim/config", timeout=5).json()["fail_codes"] == [5000]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
