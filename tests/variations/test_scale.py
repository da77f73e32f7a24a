"""Several workers, one truth: three qcluster processes on PostgreSQL + Redis follow a hundred jobs
against the simulator while the one running the dispatcher is SIGKILLed halfway.

The simulator enforces the same concurrency and per-minute limits as the app, so a limit broken
anywhere shows as a 429 or in its max_in_flight; its record of every prediction shows any job sent
twice. Runs in the PostgreSQL + Redis stage (`make test-scale`); skipped, saying why, without them.
"""

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import servers
from tests.factories import make_image

pytestmark = [pytest.mark.scale, pytest.mark.integration]

JOBS = 100
SOURCES = 5
CONCURRENCY = 4
PER_MINUTE = 60  # binds: the last 40 jobs wait for the first minute's window to move
TERMINAL = ("completed", "failed", "cancelled")


@pytest.fixture
def server_urls():
    """DATABASE_URL and REDIS_URL of real servers (the machine's own by default), or a loud skip."""
    database_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not servers.is_postgres(database_url):
        pytest.skip(f"SCALE TEST NOT RUN: DATABASE_URL is not PostgreSQL ({database_url.split(':')[0]})")
    problem = servers.postgres_unreachable(database_url) or servers.redis_unreachable(redis_url)
    if problem:
        pytest.skip(f"SCALE TEST NOT RUN: {problem}")
    return database_url, redis_url


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def dispatcher_process_group(stack):
    """The worker (qcluster process group) whose process holds the dispatcher lease now, if any."""
    rows = stack.sql("SELECT holder FROM variations_dispatcherlease WHERE holder <> '' AND expires_at > now()")
    if not rows:
        return None
    pid = int(rows[0][0].split(":")[1])
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return None
    return next((worker for worker in stack.workers if worker.pid == group), None)


def status_counts(stack):
    return dict(stack.sql("SELECT status, count(*) FROM variations_variation GROUP BY status"))


def test_three_workers_keep_every_guarantee_when_one_is_killed(server_urls, simulator_factory, live_stack_factory, capsys):
    database_url, redis_url = server_urls
    simulator = simulator_factory(latency=0.8, latency_jitter=0.5, concurrency=CONCURRENCY, per_minute=PER_MINUTE)
    started = time.monotonic()
    stack = live_stack_factory(
        workers=3,
        simulator=simulator,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WAVESPEED_MAX_CONCURRENCY=CONCURRENCY,
        WAVESPEED_MAX_PER_MINUTE=PER_MINUTE,
        FLUXSITE_WORKERS=2,
    )
    assert stack.database_url and stack.database_url != database_url  # a database of its own
    sources = [stack.upload(make_image(size=(320, 240), color=(40 * i, 90, 200 - 30 * i)))["id"] for i in range(SOURCES)]
    created = time.monotonic()
    jobs = []
    for i in range(JOBS):
        jobs += stack.create_jobs(sources[i % SOURCES], 1, size="256*256", num_images=1)
    queued = time.monotonic()

    wait_for(lambda: simulator.stats()["submits"] >= JOBS // 2, 120, "half the jobs to be submitted")
    victim = wait_for(lambda: dispatcher_process_group(stack), 30, "a dispatcher to hold the lease")
    storing_at_kill = status_counts(stack).get("storing", 0)
    stack.kill_worker(victim)
    killed, killed_at = time.monotonic(), time.time()
    submits_at_kill = simulator.stats()["submits"]

    def all_terminal():
        counts = status_counts(stack)
        return sum(counts.values()) == JOBS and all(status in TERMINAL for status in counts)

    wait_for(all_terminal, 300, "every job to end:\n" + stack.log_text())
    finished = time.monotonic()
    stats = simulator.stats()
    rows = stack.sql(
        "SELECT id, status, error_code, prediction_id, seed, num_images FROM variations_variation"
    )
    completed = [r for r in rows if r[1] == "completed"]
    not_completed = [r for r in rows if r[1] != "completed"]

    # Every job ended; only a job caught mid-submit by the kill may fail, and it says why.
    assert len(rows) == JOBS
    assert all(r[2] == "submit_ambiguous" for r in not_completed), not_completed
    assert len(not_completed) <= CONCURRENCY
    assert submits_at_kill < JOBS and len(completed) > submits_at_kill  # work went on after the kill

    # The limits held across all workers: the simulator never had to refuse, never saw too many at once.
    assert stats["rejected_429"] == 0
    assert stats["max_in_flight"] <= CONCURRENCY
    times = sorted(p["submitted_at"] for p in stats["predictions"].values())
    assert max(sum(1 for t in times if start <= t < start + 60) for start in times) <= PER_MINUTE

    # No job was submitted twice: one prediction per completed job, each job's own.
    assert len(completed) <= stats["submits"] <= len(completed) + len(not_completed)
    seeds = Counter(p["seed"] for p in stats["predictions"].values())
    assert all(seeds[r[4]] == 1 for r in completed)
    assert len({r[3] for r in completed}) == len(completed)
    assert {r[3] for r in completed} <= set(stats["predictions"])

    # No output stored twice: one row and one file per output; downloaded again only if caught mid-store.
    outputs = stack.sql("SELECT variation_id, image FROM variations_output")
    assert len(outputs) == sum(r[5] for r in completed)
    assert len({o[0] for o in outputs}) == len(completed)
    files = [p for p in Path(stack.data_dir, "media", "outputs").rglob("*") if p.is_file()]
    assert sorted(str(p.relative_to(Path(stack.data_dir, "media"))) for p in files) == sorted(o[1] for o in outputs)
    assert stats["downloads"] <= len(outputs) + storing_at_kill

    takeover = min(t for t in times if t > killed_at) - killed_at
    with capsys.disabled():  # timings for the CI log
        print(
            f"\n[scale] {JOBS} jobs: {len(completed)} completed, {len(not_completed)} failed as ambiguous. Stack up in "
            f"{created - started:.1f} s, jobs queued in {queued - created:.1f} s, dispatcher's worker killed "
            f"{killed - queued:.1f} s later at {submits_at_kill} submits, next submit {takeover:.1f} s after the kill, "
            f"all ended {finished - queued:.1f} s after queueing. Max in flight {stats['max_in_flight']}/{CONCURRENCY}, "
            f"{stats['downloads']} downloads for {len(outputs)} outputs, {storing_at_kill} jobs were storing at the kill."
        )
