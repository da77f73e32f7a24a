"""A whole running fluxsite for integration tests: web server and qcluster as real processes on a
temporary data directory, talking to a WaveSpeed simulator over HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

from tests import servers

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    """Start with `start()`; `api()` calls the JSON API as the stack's user; `stop()` ends every process."""

    def __init__(self, data_dir, simulator, **settings):
        self.data_dir = Path(data_dir)
        self.simulator = simulator
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fluxsite.settings",
            "FLUXSITE_DATA_DIR": str(self.data_dir),
            "WAVESPEED_API_KEY": "live-test-key",
            "WAVESPEED_BASE_URL": simulator.base_url,
            "FLUXSITE_SIMULATOR": "1",
            "FLUXSITE_LEASE_SECONDS": "3",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            **{name: str(value) for name, value in settings.items()},
        }
        self.web = None
        self.more_webs = []  # web processes beyond the first (start_web)
        self.workers = []
        self.token = None
        self.logs = []
        self.database_url = None  # a PostgreSQL database made for this stack alone

    def manage(self, *args, check=True):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=check
        )

    def _spawn(self, name, *args, env=None):
        log = open(self.data_dir / f"{name}-{len(self.logs)}.log", "w")
        self.logs.append(log)
        # A process group of its own, so a kill takes the qcluster's worker children with it.
        return subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def spawn_web(self, port):
        """runserver answers each request on a new thread, whose persistent PostgreSQL connection would stay
        open after it (a thousand requests held 86 of the server's 100), so its connections end with their request."""
        env = {**self.env, "FLUXSITE_DB_CONN_MAX_AGE": "0"}
        return self._spawn("web", "runserver", "--noreload", f"127.0.0.1:{port}", env=env)

    def start(self, user="alice", workers=1):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.use_own_servers()
        self.manage("migrate", "--noinput")
        self.manage("shell", "-c", f"from django.contrib.auth.models import User; User.objects.create_superuser({user!r}, '', 'pw-{user}-1234')")
        self.token = self.manage("api_token", user).stdout.split()[-1]
        self.web = self.spawn_web(self.port)
        for _ in range(workers):
            self.start_worker()
        self.wait_for_web()
        return self

    def use_own_servers(self):
        """With DATABASE_URL (PostgreSQL) or REDIS_URL set, a fresh database and queue name for this stack."""
        if servers.is_postgres(self.env.get("DATABASE_URL")):
            self.database_url = self.env["DATABASE_URL"] = servers.create_database(self.env["DATABASE_URL"])
        if self.env.get("REDIS_URL"):
            self.env["FLUXSITE_QUEUE_NAME"] = servers.new_queue_name()

    def sql(self, query, params=()):
        """Rows of a query on the stack's own PostgreSQL database."""
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query, params).fetchall()

    def start_web(self):
        """One more web process on the same data directory, as `make run` starts two; returns its base URL."""
        port = free_port()
        self.more_webs.append(self.spawn_web(port))
        self.wait_for_web(base_url=f"http://127.0.0.1:{port}")
        return f"http://127.0.0.1:{port}"

    def wait_for_web(self, timeout=30, base_url=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get((base_url or self.base_url) + "/api/v1/openapi.json", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError("the web server did not start:\n" + self.log_text())

    def start_worker(self):
        worker = self._spawn("worker", "qcluster")
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker=None):
        """SIGKILL a worker's whole process group: no chance to tidy up, as in a crash."""
        worker = worker or self.workers[-1]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        self.workers.remove(worker)

    def api(self, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.base_url + "/api/v1" + path, headers=headers, timeout=30, **kwargs)

    def upload(self, data, name="source.jpg"):
        response = self.api("POST", "/sources", files={"image": (name, data)})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def create_jobs(self, source_id, count, **params):
        jobs = []
        for _ in range(count):
            response = self.api("POST", "/variations", json={"source": source_id, **params})
            assert response.status_code == 201, response.text
            jobs.append(response.json()["id"])
        return jobs

    def wait_until_done(self, job_ids, timeout=120):
        """Poll the API until every job is terminal; returns {id: job}."""
        deadline = time.monotonic() + timeout
        pending, done = set(job_ids), {}
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                job = self.api("GET", f"/variations/{job_id}").json()
                if job["status"] in ("completed", "failed", "cancelled"):
                    done[job_id] = job
                    pending.discard(job_id)
            time.sleep(0.3)
        assert not pending, f"{len(pending)} jobs never finished:\n" + self.log_text()
        return done

    def log_text(self):
        return "\n".join(Path(log.name).read_text()[-3000:] for log in self.logs)

    def stop(self):
        # SIGTERM to each main process only, as `docker stop` does: qcluster stops its own children,
        # and hangs if they are signalled at the same time. Whatever is left is then killed.
        for process in [self.web, *self.more_webs, *self.workers]:
            if process and process.poll() is None:
                process.terminate()
        for process in [self.web, *self.more_webs, *self.workers]:
            if process:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    pass
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for log in self.logs:
            log.close()
        if self.database_url:
            servers.drop_database(self.database_url)
        if self.env.get("REDIS_URL"):
            servers.delete_redis_keys(self.env["REDIS_URL"], self.env["FLUXSITE_QUEUE_NAME"])
