"""One run of the whole app against the simulator: N jobs created through the JSON API, followed to the end,
then measured from the simulator's record, the app's database, the dispatcher's log lines and /proc.

Every section of the throughput benches (throughput.py, tiers.py, growth.py) is a `Setup` handed to `run_app`.
The simulator enforces the same concurrency and per-minute limits the app is given, so a limit the app broke
would show as a 429 in its counters.
"""

import math
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from tests import servers
from tests.live import LiveStack
from wavespeed_api.simulator import SimulatorConfig, start_simulator

from .common import (
    MemorySampler, StackDatabase, best_makespan, budget_used, busy_fraction, dispatcher_totals, machine_cpu, mean, median,
    most_in_window, percentile, processes, unix_time,
)

MODEL = "wavespeed-ai/flux-redux-dev"
REQUEST_COUNTERS = ("submit_requests", "polls", "downloads", "uploads", "deletes")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Setup:
    """What one run asks of the app and the simulator alike."""

    n: int
    concurrency: int = 20
    per_minute: int = 0  # images per rolling minute, 0 = no limit
    latency: float = 3.0
    jitter: float = 0.3
    webhooks: bool = False
    servers: bool = False  # PostgreSQL + Redis instead of SQLite and the database broker
    size: str = "1024*1024"
    creators: int = 1  # threads creating jobs through the API at once
    seed: int = 1
    timeout: float = 900.0

    @property
    def label(self):
        return "app + webhooks" if self.webhooks else "app (polling)"


def servers_unavailable():
    """Why the PostgreSQL + Redis runs cannot be made here (a message), or None when they can."""
    return servers.postgres_unreachable(DATABASE_URL) or servers.redis_unreachable(REDIS_URL)


def start_stack(setup, simulator, data_dir):
    settings = dict(
        WAVESPEED_MAX_CONCURRENCY=setup.concurrency, WAVESPEED_MAX_PER_MINUTE=setup.per_minute, FLUXSITE_LEASE_SECONDS=10
    )
    if setup.servers:
        settings.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL)
    stack = LiveStack(data_dir, simulator, **settings)
    if setup.webhooks:
        stack.env.update(FLUXSITE_PUBLIC_URL=stack.base_url, FLUXSITE_WEBHOOK_ALLOW_HTTP="1")
    return stack


def create_jobs(stack, source_id, setup):
    """POST N jobs, each on a new connection (runserver answers kept-alive ones ~40 ms late: Nagle's
    algorithm meeting the client's delayed ACK, which a production server does not)."""
    headers = {"Authorization": f"Bearer {stack.token}"}
    body = {"source": source_id, "size": setup.size}

    def one(_):
        response = requests.post(f"{stack.base_url}/api/v1/variations", json=body, headers=headers, timeout=60)
        assert response.status_code == 201, response.text

    with ThreadPoolExecutor(setup.creators) as pool:
        list(pool.map(one, range(setup.n)))


def run_app(setup, source_image):
    """N jobs through the running app; returns the measurements as a dict."""
    config = SimulatorConfig(
        latency=setup.latency, latency_jitter=setup.jitter, concurrency=setup.concurrency,
        per_minute=setup.per_minute, seed=setup.seed, webhook_backoff=0.5,
    )
    sim = start_simulator(config, host="127.0.0.1", port=0)
    data_dir = Path(tempfile.mkdtemp(prefix="fluxsite-bench-"))
    stack = start_stack(setup, sim, data_dir)
    try:
        stack.start()
        source = stack.upload(source_image)
        database = StackDatabase(data_dir, stack.database_url)
        with MemorySampler(stack.workers[0].pid) as memory:
            started, bench_cpu, machine = time.time(), process_cpu(), machine_cpu()
            create_jobs(stack, source["id"], setup)
            created = time.time()
            deadline = time.monotonic() + setup.timeout
            while database.unfinished():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jobs unfinished after {setup.timeout} s:\n{stack.log_text()}")
                time.sleep(0.2)
        bench_cpu, machine_busy = process_cpu() - bench_cpu, busy_fraction(machine, machine_cpu())
        dispatcher = wait_for_dispatcher_lines(stack, setup.n)
        at_end = processes({"web": stack.web.pid, **{f"worker {i}": w.pid for i, w in enumerate(stack.workers)}})
        jobs = database.jobs()
        stats = sim.stats()
    finally:
        stack.stop()
        sim.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {**measure(setup, started, created, jobs, stats, dispatcher, at_end, memory), "bench_cpu_seconds": bench_cpu,
            "machine_busy": machine_busy, "cores": os.cpu_count()}


def process_cpu():
    """This process's CPU seconds: the simulator's threads and the client creating jobs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for_dispatcher_lines(stack, n, timeout=30.0):
    """The dispatcher's summed log lines once they account for all N jobs: its last run logs only when it
    ends, a moment after the last job does (or whatever there is after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        totals = dispatcher_totals("\n".join(Path(log.name).read_text() for log in stack.logs))
        if (totals and totals["jobs"] >= n) or time.monotonic() > deadline:
            return totals
        time.sleep(0.5)


def measure(setup, started, created, jobs, stats, dispatcher, at_end, memory):
    completed = [job for job in jobs if job["status"] == "completed"]
    assert len(completed) == setup.n and all(job["outputs"] == 1 for job in completed), "not every job completed"
    stored_at = {job["prediction_id"]: unix_time(job["completed_at"]) for job in completed}
    predictions = stats["predictions"]
    finished = {pid: p["finished_at"] for pid, p in predictions.items()}
    ordered = sorted((predictions[job["prediction_id"]] for job in completed), key=lambda p: p["submitted_at"])
    durations = [p["finished_at"] - p["submitted_at"] for p in ordered]
    releases = [unix_time(job["created_at"]) - started for job in completed]
    wall = max(stored_at.values()) - started
    # Where the overhead goes: learning that WaveSpeed finished (poll or webhook), then storing the outputs.
    learned = [unix_time(job["finished_at"]) - finished[job["prediction_id"]] for job in completed]
    storing = [unix_time(job["completed_at"]) - unix_time(job["finished_at"]) for job in completed]
    worker_cpu = sum(p["cpu_seconds"] for p in at_end if p["role"].startswith("worker"))
    return {
        "client": setup.label,
        "setup": asdict(setup),
        "n": setup.n,
        "wall_seconds": wall,
        "create_seconds": created - started,
        "ideal_seconds": math.ceil(setup.n / setup.concurrency) * setup.latency,
        # all jobs there at the start, as issue 11's baseline counted; then with each job's creation time too
        "scheduled_seconds": best_makespan(durations, None, setup.concurrency, setup.per_minute),
        "best_seconds": best_makespan(durations, releases, setup.concurrency, setup.per_minute),
        "submits": stats["submits"],
        # per-minute limit: how much of it was used, and the most submits any minute held (must stay within it)
        "budget_used": budget_used([p["submitted_at"] for p in ordered], setup.per_minute) if setup.per_minute else None,
        "most_in_a_minute": most_in_window([p["submitted_at"] for p in predictions.values()]),
        "first_submit_seconds": min(unix_time(job["submitted_at"]) for job in completed) - started,
        "learn_p50": percentile(learned, 0.5),
        "first_wave_spread": first_wave_spread(ordered, setup.concurrency),
        "slot_gap_mean": mean(slot_gaps(predictions.values(), setup.concurrency)) if setup.n > setup.concurrency else None,
        "store_p50": percentile(storing, 0.5),
        "worker_peak_process_mb": memory.peak_process / 2**20,
        "worker_peak_total_mb": memory.peak_total / 2**20,
        "worker_cpu_seconds": worker_cpu,
        "processes_at_end": at_end,
        "dispatcher": dispatcher,
        **request_counts(stats, setup.n),
        **overheads(finished, stored_at),
    }


def slot_gaps(predictions, concurrency):
    """Seconds each freed concurrency slot stayed empty before the next prediction took it.

    The k-th prediction to finish frees the slot the (k+C)-th submit takes; the gap is time lost to
    noticing the finish (poll or webhook) and sending the next submit.
    """
    submits = sorted(p["submitted_at"] for p in predictions)
    finishes = sorted(p["finished_at"] for p in predictions)
    return [submit - finish for submit, finish in zip(submits[concurrency:], finishes)]


def first_wave_spread(ordered, concurrency):
    """Seconds between the first submit and the one that filled the last slot (or the last submit, if fewer)."""
    return ordered[:concurrency][-1]["submitted_at"] - ordered[0]["submitted_at"]


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


def shortfall(run):
    """Where the seconds lost against the best possible went, roughly: the wait for the first submit, a freed
    slot's idle time (noticing the finish, then the next submit) on each turn a slot takes after its first, the
    last job's storing, or where a per-minute window binds, how much of it was used and how late outputs were
    stored; and how busy the machine was, since the app shares its cores with the simulator."""
    lost = f"{run['client']}, N={run['n']}: {run['wall_seconds'] - run['best_seconds']:.2f} s lost"
    busy = (f"the machine's {run['cores']} cores were {run['machine_busy']:.0%} busy (app, simulator, client and "
            f"database servers together)")
    if run["budget_used"] is not None:  # a slot freed while the window is full waits for the window, not for the app
        return (f"{lost}: first submit after {run['first_submit_seconds']:.2f} s, the per-minute window used "
                f"{run['budget_used']:.1%}, finish → outputs stored p50 {run['overhead_p50']:.2f} s and p95 "
                f"{run['overhead_p95']:.2f} s; {busy}")
    turns = max(0, math.ceil(run["n"] / run["setup"]["concurrency"]) - 1)
    idle = f"{turns} turns × a freed slot idle {run['slot_gap_mean']:.2f} s" if run["slot_gap_mean"] is not None else "no second turn"
    return (f"{lost} ≈ first submit {run['first_submit_seconds']:.2f} s + {idle} (noticing a finish p50 "
            f"{run['learn_p50']:.2f} s) + the last outputs stored (p50 {run['store_p50']:.2f} s); {busy}")


def per_job(run):
    """The per-job figures that should stay flat as N grows (None where the dispatcher's log had no line)."""
    dispatcher = run["dispatcher"] or {}
    return {
        "wall": run["wall_seconds"] / run["n"],
        "dispatcher_cpu": dispatcher["cpu_seconds"] / run["n"] if dispatcher else None,
        "queries": dispatcher["queries"] / run["n"] if dispatcher else None,
        "worker_cpu": run["worker_cpu_seconds"] / run["n"],
    }
