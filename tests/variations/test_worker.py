"""A real qcluster process follows jobs against the simulator over HTTP, and survives being killed."""

import io
import time

import pytest
import requests
from PIL import Image

from tests.factories import make_image

pytestmark = pytest.mark.integration


def test_jobs_complete_with_outputs_in_the_apps_storage(live_stack_factory):
    stack = live_stack_factory(WAVESPEED_MAX_CONCURRENCY=2, WAVESPEED_MAX_PER_MINUTE=0)
    source = stack.upload(make_image())
    jobs = stack.create_jobs(source["id"], 3, size="512*768", num_images=2, output_format="png")

    done = stack.wait_until_done(jobs, timeout=60)

    assert {job["status"] for job in done.values()} == {"completed"}
    stats = stack.simulator.stats()
    assert stats["submits"] == 3  # none submitted twice
    assert stats["uploads"] == 1  # re-runs of one source reuse its upload
    assert stats["max_in_flight"] <= 2  # the concurrency cap held
    for job in done.values():
        assert len(job["outputs"]) == 2
        for output in job["outputs"]:
            assert output["url"].startswith(stack.base_url)
            response = requests.get(output["url"], headers={"Authorization": f"Bearer {stack.token}"}, timeout=10)
            image = Image.open(io.BytesIO(response.content))
            assert (image.format, image.size) == ("PNG", (512, 768))


def test_a_killed_worker_is_replaced_and_no_job_is_lost_or_sent_twice(live_stack_factory, simulator_factory):
    simulator = simulator_factory(latency=1.0, latency_jitter=0.3, per_minute=0, concurrency=3)
    # Submits go out in bursts of up to three, so the kill may catch a whole burst unanswered: its tagged
    # webhooks tell those jobs apart (without them they would end submit_ambiguous, never on a wrong task).
    stack = live_stack_factory(
        simulator=simulator, webhooks=True, WAVESPEED_MAX_CONCURRENCY=3, WAVESPEED_MAX_PER_MINUTE=0,
        FLUXSITE_SUBMIT_SETTLE_SECONDS=2,
    )
    source = stack.upload(make_image())
    jobs = stack.create_jobs(source["id"], 8)

    deadline = time.monotonic() + 30
    while simulator.stats()["submits"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stack.kill_worker()
    assert 2 <= simulator.stats()["submits"] < len(jobs)
    stack.start_worker()

    done = stack.wait_until_done(jobs, timeout=120)

    # Even jobs caught mid-submit are settled: nothing lost, nothing sent twice.
    assert [job["status"] for job in done.values()] == ["completed"] * len(jobs)
    assert simulator.stats()["submits"] == len(jobs)
    assert simulator.stats()["max_in_flight"] <= 3


def test_a_worker_killed_mid_submit_settles_it_from_wavespeeds_history(live_stack_factory, simulator_factory):
    simulator = simulator_factory(latency=0.5, per_minute=0)
    stack = live_stack_factory(simulator=simulator, WAVESPEED_MAX_PER_MINUTE=0, FLUXSITE_SUBMIT_SETTLE_SECONDS=2)
    source = stack.upload(make_image())
    simulator.config.slow_rate, simulator.config.slow_seconds = 1.0, 4.0  # WaveSpeed hangs...
    [job_id] = stack.create_jobs(source["id"], 1)
    deadline = time.monotonic() + 20
    while stack.api("GET", f"/variations/{job_id}").json()["submitted_at"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    stack.kill_worker()  # ...and the worker dies while its upload or submit is under way
    simulator.config.slow_rate = 0.0
    stack.start_worker()

    job = stack.wait_until_done([job_id], timeout=90)[job_id]

    assert job["status"] == "completed"
    assert simulator.stats()["submits"] == 1
