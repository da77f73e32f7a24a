"""`make run` (fluxsite/run.py): stopping it stops every process it started, qcluster workers included."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.factories import make_image
from tests.live import ROOT, free_port

pytestmark = pytest.mark.integration


def process_table():
    """{pid: (parent pid, start time)} of every live (not zombie) process, read from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def descendants(pid):
    """{pid: start time} of every process below `pid` (the start time tells a reused pid apart)."""
    table = process_table()
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, started) in table.items():
            if ppid == parent and child not in found:
                found[child] = started
                frontier.append(child)
    return found


def still_alive(processes):
    table = process_table()
    return {pid for pid, started in processes.items() if pid in table and table[pid][1] == started}


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def test_sigterm_mid_job_leaves_no_process_behind(tmp_path):
    """Issue 13, problem 10: the launcher used to kill only qcluster's parent, leaving its workers polling.
    Launched by hand, with no static files collected, it collects them before the pages need them."""
    port, simulator_port = free_port(), free_port()
    env = {
        **os.environ, "FLUXSITE_DATA_DIR": str(tmp_path), "WAVESPEED_API_KEY": "", "PYTHONUNBUFFERED": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "FLUXSITE_WORKERS": "2",
        "FLUXSITE_STATIC_ROOT": str(tmp_path / "static"),  # nothing collected: the launcher collects
    }
    env.pop("DATABASE_URL", None), env.pop("REDIS_URL", None)  # the launcher's own defaults: SQLite, ORM queue

    def manage(*args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)

    manage("migrate", "--noinput")
    manage("shell", "-c", "from django.contrib.auth.models import User; User.objects.create_superuser('ada', '', 'pw-ada-12345')")
    token = manage("api_token", "ada").stdout.split()[-1]
    log = open(tmp_path / "run.log", "w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "fluxsite.run", "--port", str(port), "--simulator-port", str(simulator_port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    started = {}
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}

        def web_up():
            try:
                return requests.get(base + "/api/v1/openapi.json", timeout=5).ok
            except requests.RequestException:
                return False

        wait_for(web_up, 60, "the web server starting")
        assert requests.get(base + "/accounts/login/", timeout=5).status_code == 200  # a page, its stylesheets by hashed name
        # A long job: the worker is busy following it when the launcher is told to stop.
        requests.post(f"http://127.0.0.1:{simulator_port}/_sim/config", json={"latency": 120.0}, timeout=5)
        source = requests.post(base + "/api/v1/sources", headers=headers, files={"image": ("s.jpg", make_image())}, timeout=30).json()
        job = requests.post(base + "/api/v1/variations", headers=headers, json={"source": source["id"]}, timeout=30).json()

        def processing():
            return requests.get(base + f"/api/v1/variations/{job['id']}", headers=headers, timeout=5).json()["status"] == "processing"

        wait_for(processing, 60, "the job reaching WaveSpeed")
        started = descendants(launcher.pid)
        assert len(started) >= 3 + 2  # simulator, web (+ its workers), qcluster (+ its workers)

        began = time.monotonic()
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=40)

        assert time.monotonic() - began < 30
        assert still_alive(started) == set(), (tmp_path / "run.log").read_text()[-3000:]
    finally:  # whatever went wrong, nothing of this test may outlive it
        for pid in still_alive({**started, **descendants(launcher.pid)}):
            os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
        launcher.wait()
        log.close()


@pytest.mark.parametrize(
    "given,per_minute", [({}, "0"), ({"WAVESPEED_MAX_PER_MINUTE": "10"}, "10")], ids=["none-by-default", "set"]
)
def test_in_simulator_mode_the_app_and_the_simulator_share_one_per_minute_limit(given, per_minute):
    """A demo never waits on a limit that does not exist: the app's cap is the simulator's own."""
    from fluxsite.run import simulator_settings

    env = dict(given)
    flags = simulator_settings(env, 8765)

    assert env["WAVESPEED_MAX_PER_MINUTE"] == per_minute
    assert flags[flags.index("--per-minute") + 1] == per_minute
    assert env["WAVESPEED_MAX_CONCURRENCY"] == flags[flags.index("--concurrency") + 1] == "3"


def test_with_a_key_make_run_is_nine_processes_and_the_web_and_worker_are_forked_from_the_launcher(tmp_path, simulator):
    """Issue 11, footprint: one qcluster task process (with django-q2's cluster, sentinel, monitor and pusher),
    gunicorn's master and two workers, all forked from the launcher's loaded Django so they share its memory.
    More processes by default, or a web server or worker exec'd afresh, would cost memory bench/footprint.py
    counts against its 150 MB."""
    port = free_port()
    env = {
        **os.environ, "FLUXSITE_DATA_DIR": str(tmp_path), "WAVESPEED_API_KEY": "test-key",
        "WAVESPEED_BASE_URL": simulator.base_url, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "FLUXSITE_WORKERS", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_CMD_ARGS"):
        env.pop(name, None)  # the defaults are what is tested
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, capture_output=True, check=True)
    log = open(tmp_path / "run.log", "w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "fluxsite.run", "--port", str(port), "--simulator-port", str(free_port())],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    started = {}
    try:
        def serving():
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok
            except requests.RequestException:
                return False

        wait_for(serving, 60, "the web server starting")
        started = wait_for(lambda: (found := descendants(launcher.pid)) and len(found) >= 8 and found, 30, "eight processes")
        time.sleep(2)  # nothing more comes
        started = descendants(launcher.pid)

        assert len(started) == 8, (tmp_path / "run.log").read_text()[-3000:]
        own = Path(f"/proc/{launcher.pid}/cmdline").read_bytes()
        assert all(Path(f"/proc/{pid}/cmdline").read_bytes() == own for pid in started)  # forked, none exec'd
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=40)
        for pid in still_alive(started):
            os.kill(pid, signal.SIGKILL)
        log.close()


def test_gunicorn_loads_the_app_before_forking_and_hands_no_database_connection_to_a_worker(monkeypatch):
    """preload_app shares the app's memory among the workers; a connection opened while loading must be closed
    in the master before each fork (max_requests recycling forks again), or two processes would use it."""
    from django.db import connections

    from fluxsite import gunicorn_conf

    closed = []
    monkeypatch.setattr(connections, "close_all", lambda: closed.append(True))

    gunicorn_conf.pre_fork(server=None, worker=None)

    assert gunicorn_conf.preload_app is True
    assert closed == [True]
