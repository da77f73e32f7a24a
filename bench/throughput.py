"""Throughput against the simulator: the whole app (web server + qcluster) and the official SDK, same settings.

Both sides get the same simulator settings: latency L ±30 %, at most C predictions at once, no per-minute
limit. The app is driven through its JSON API like a user would; the SDK through `wavespeed.Client.run()`
from C threads, downloading each output afterwards (the app keeps outputs, so a fair script does too).
"""

import heapq
import io
import math
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests
from PIL import Image

from tests.live import LiveStack
from wavespeed_api.simulator import SimulatorConfig, start_simulator

from .common import MemorySampler, StackDatabase, mean, median, percentile, unix_time

MODEL = "wavespeed-ai/flux-redux-dev"
LATENCY = 3.0
JITTER = 0.3
CONCURRENCY = 20
REQUEST_COUNTERS = ("submit_requests", "polls", "downloads", "uploads", "deletes")


def source_image():
    """A 1024×768 JPEG with some structure, the kind of photo a person would vary."""
    image = Image.new("RGB", (1024, 768), (40, 90, 160))
    for x in range(0, 1024, 32):
        image.paste((x % 256, 255 - x % 256, 120), (x, 0, x + 12, 768))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def simulator(seed, latency=LATENCY):
    config = SimulatorConfig(
        latency=latency, latency_jitter=JITTER, concurrency=CONCURRENCY, per_minute=0, seed=seed, webhook_backoff=0.5
    )
    return start_simulator(config, host="127.0.0.1", port=0)


def ideal_seconds(n, latency=LATENCY):
    """The issue's ideal: ceil(N/C) rounds of the mean latency."""
    return math.ceil(n / CONCURRENCY) * latency


def scheduled_seconds(stats):
    """The makespan a zero-overhead scheduler would reach with the durations the simulator actually drew.

    The ideal above ignores the ±30 % jitter; this replays the real durations (in submit order) through
    C slots, each job starting the instant a slot frees: the best any client could do.
    """
    predictions = sorted(stats["predictions"].values(), key=lambda p: p["submitted_at"])
    slots = [0.0] * CONCURRENCY
    for prediction in predictions:
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + prediction["finished_at"] - prediction["submitted_at"])
    return max(slots)


def slot_gaps(stats):
    """Seconds each freed concurrency slot stayed empty before the next prediction took it.

    The k-th prediction to finish frees the slot the (k+C)-th submit takes; the gap is time lost to
    noticing the finish (poll or webhook) and sending the next submit.
    """
    predictions = stats["predictions"].values()
    submits = sorted(p["submitted_at"] for p in predictions)
    finishes = sorted(p["finished_at"] for p in predictions)
    return [submit - finish for submit, finish in zip(submits[CONCURRENCY:], finishes)]


def first_wave_spread(stats):
    """Seconds between the first submit and the one that filled the last slot (or the last submit, if fewer)."""
    submits = sorted(p["submitted_at"] for p in stats["predictions"].values())
    return submits[: CONCURRENCY][-1] - submits[0]


def request_counts(stats, n):
    counts = {name: stats[name] for name in REQUEST_COUNTERS}
    polls = [stats["polls_by_prediction"].get(pid, 0) for pid in stats["predictions"]]
    return {
        "requests_per_job": sum(counts.values()) / n,
        "requests": counts,
        "polls_median": median(polls),
        "polls_max": max(polls),
        "rejected_429": stats["rejected_429"],
        "max_in_flight": stats["max_in_flight"],
        "webhooks_sent": stats["webhooks_sent"],
    }


def overheads(finished_by_prediction, stored_at):
    """Seconds from the simulator finishing each prediction to its outputs being stored."""
    values = [stored_at[pid] - finished_by_prediction[pid] for pid in stored_at]
    return {"overhead_p50": percentile(values, 0.5), "overhead_p95": percentile(values, 0.95), "overhead_max": max(values)}


def run_app(n, webhooks=False, seed=1, latency=LATENCY, timeout=900):
    """N jobs through the running app; returns the measurements as a dict."""
    sim = simulator(seed, latency)
    data_dir = Path(tempfile.mkdtemp(prefix="fluxsite-bench-"))
    stack = LiveStack(
        data_dir, sim, WAVESPEED_MAX_CONCURRENCY=CONCURRENCY, WAVESPEED_MAX_PER_MINUTE=0, FLUXSITE_LEASE_SECONDS=10
    )
    if webhooks:
        stack.env.update(FLUXSITE_PUBLIC_URL=stack.base_url, FLUXSITE_WEBHOOK_ALLOW_HTTP="1")
    try:
        stack.start()
        source = stack.upload(source_image())
        database = StackDatabase(data_dir)
        # A new connection per request: runserver answers kept-alive connections ~40 ms late (Nagle's
        # algorithm meeting the client's delayed ACK), which a production server does not.
        headers = {"Authorization": f"Bearer {stack.token}"}
        with MemorySampler(stack.workers[0].pid) as memory:
            started = time.time()
            for _ in range(n):
                response = requests.post(
                    f"{stack.base_url}/api/v1/variations", json={"source": source["id"]}, headers=headers, timeout=30
                )
                assert response.status_code == 201, response.text
            created = time.time()
            deadline = time.monotonic() + timeout
            while database.unfinished():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jobs unfinished after {timeout} s:\n{stack.log_text()}")
                time.sleep(0.2)
        jobs = database.jobs()
        stats = sim.stats()
    finally:
        stack.stop()
        sim.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    completed = [job for job in jobs if job["status"] == "completed"]
    assert len(completed) == n and all(job["outputs"] == 1 for job in completed), "not every job completed"
    stored_at = {job["prediction_id"]: unix_time(job["completed_at"]) for job in completed}
    finished = {pid: p["finished_at"] for pid, p in stats["predictions"].items()}
    wall = max(stored_at.values()) - started
    # Where the overhead goes: learning that WaveSpeed finished (poll or webhook), then storing the outputs.
    learned = [unix_time(job["finished_at"]) - finished[job["prediction_id"]] for job in completed]
    storing = [unix_time(job["completed_at"]) - unix_time(job["finished_at"]) for job in completed]
    first_submit = min(unix_time(job["submitted_at"]) for job in completed) - started
    return {
        "client": "app + webhooks" if webhooks else "app (polling)",
        "n": n,
        "wall_seconds": wall,
        "create_seconds": created - started,
        "ideal_seconds": ideal_seconds(n, latency),
        "scheduled_seconds": scheduled_seconds(stats),
        "submits": stats["submits"],
        "first_submit_seconds": first_submit,
        "learn_p50": percentile(learned, 0.5),
        "first_wave_spread": first_wave_spread(stats),
        "slot_gap_mean": mean(slot_gaps(stats)),
        "store_p50": percentile(storing, 0.5),
        "worker_peak_process_mb": memory.peak_process / 2**20,
        "worker_peak_total_mb": memory.peak_total / 2**20,
        **request_counts(stats, n),
        **overheads(finished, stored_at),
    }


def run_sdk(n, seed=1, latency=LATENCY):
    """N jobs through the official SDK's run() from C threads, each output downloaded to disk afterwards."""
    import wavespeed

    sim = simulator(seed, latency)
    out_dir = Path(tempfile.mkdtemp(prefix="fluxsite-bench-sdk-"))
    key = "bench-key"
    try:
        upload = requests.post(
            f"{sim.base_url}/api/v3/media/upload/binary",
            files={"file": ("source.jpg", source_image(), "image/jpeg")},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        image_url = upload.json()["data"]["download_url"]
        client = wavespeed.Client(api_key=key, base_url=sim.base_url)
        stored_at = {}

        def one(index):
            result = client.run(MODEL, {"image": image_url, "seed": index})
            for url in result["outputs"]:
                response = requests.get(url, timeout=30)
                response.raise_for_status()
                prediction_id = urlsplit(url).path.split("/")[2]
                (out_dir / f"{prediction_id}.jpeg").write_bytes(response.content)
                stored_at[prediction_id] = time.time()

        started = time.time()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, range(n)))
        stats = sim.stats()
    finally:
        sim.stop()
        shutil.rmtree(out_dir, ignore_errors=True)
    assert len(stored_at) == n, "not every SDK job completed"
    finished = {pid: p["finished_at"] for pid, p in stats["predictions"].items()}
    return {
        "client": f"wavespeed SDK {wavespeed.__version__}",
        "n": n,
        "wall_seconds": max(stored_at.values()) - started,
        "ideal_seconds": ideal_seconds(n, latency),
        "scheduled_seconds": scheduled_seconds(stats),
        "submits": stats["submits"],
        **request_counts(stats, n),
        **overheads(finished, stored_at),
    }
