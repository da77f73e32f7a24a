"""One compose project of the test: `docker compose` with the project's own compose file, the JSON API
on the published loopback port, and a snapshot of the library to compare before and after."""

import hashlib
import io
import json
import os
import socket
import subprocess
import time

import requests
from PIL import Image

# Published on loopback only, whatever the compose file of the commit under test says (`!override`
# needs Compose 2.24, as the compose file itself does).
LOOPBACK_PORTS = """\
services:
  web:
    ports: !override
      - "127.0.0.1:${FLUXSITE_PORT}:8000"
"""
TERMINAL = ("completed", "failed", "cancelled")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """`directory` holds a checkout with its .env; `extra_files` are compose files added after the project's."""

    def __init__(self, directory, project, port, profiles=("simulator",), extra_files=()):
        self.directory = directory
        self.project = project
        self.port = port
        self.profiles = profiles
        (directory / "loopback.yml").write_text(LOOPBACK_PORTS)
        self.files = ["docker-compose.yml", "loopback.yml", *extra_files]
        self.base_url = f"http://127.0.0.1:{port}"
        self.token = None

    # --- compose ------------------------------------------------------------------------------------------

    def compose(self, *args, stdin=None, stdout=None, timeout=600):
        """Run `docker compose ...` in the checkout; raises with its output when it fails."""
        command = ["docker", "compose", "-p", self.project]
        for name in self.files:
            command += ["-f", name]
        for profile in self.profiles:
            command += ["--profile", profile]
        env = {**os.environ, "FLUXSITE_PORT": str(self.port)}
        result = subprocess.run(
            command + list(args), cwd=self.directory, env=env, stdin=stdin, timeout=timeout,
            stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
        )
        if result.returncode:
            output = (result.stdout or b"").decode(errors="replace") if stdout is None else ""
            raise AssertionError(f"docker compose {' '.join(args)} failed:\n{output}{result.stderr.decode(errors='replace')}")
        return result.stdout.decode(errors="replace") if stdout is None else ""

    def up(self, workers=3):
        """`up -d` returns once migrate has finished and db and redis are healthy; then web must answer.
        (Workers report healthy only after their first 30 s check: `wait_for_healthy_workers`.)"""
        self.compose("up", "-d", "--build", "--scale", f"worker={workers}")
        self.wait_for_web()

    def wait_for_healthy_workers(self, count, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(row["Health"] == "healthy" for row in self.containers("worker")) == count:
                return
            time.sleep(2)
        raise AssertionError(f"workers not healthy: {self.containers('worker')}")

    def manage(self, *args, service="web"):
        return self.compose("exec", "-T", service, "python", "manage.py", *args)

    def python_in(self, service, code):
        """Run Python in a running container of `service` (how the test reaches what is not published)."""
        return self.compose("exec", "-T", service, "python", "-c", code)

    def simulator(self, path, body=None):
        """The simulator's test-only /_sim routes, from inside its container (it is not published)."""
        code = (
            "import json, sys, urllib.request; body = sys.argv[1]; "
            f"request = urllib.request.Request('http://127.0.0.1:8765{path}', data=body.encode() if body else None, "
            "headers={'Content-Type': 'application/json'}); "
            "print(urllib.request.urlopen(request, timeout=10).read().decode())"
        )
        out = self.compose("exec", "-T", "simulator", "python", "-c", code, json.dumps(body) if body else "")
        return json.loads(out)

    def logs(self, service):
        return self.compose("logs", "--no-color", service)

    def containers(self, service):
        """`docker compose ps` rows (ID, State, Health, ExitCode ...) of the service, stopped containers included."""
        out = self.compose("ps", "-a", "--format", "json", service)
        rows = [json.loads(line) for line in out.splitlines() if line.strip()[:1] in "[{"]
        return rows[0] if len(rows) == 1 and isinstance(rows[0], list) else rows  # older Compose: one array

    def down(self, volumes=False):
        self.compose("down", "--remove-orphans", *(["-v"] if volumes else []), "-t", "20")

    # --- the first admin and the API ----------------------------------------------------------------------

    def create_admin(self, username="admin"):
        """The first administrator and an API token for it, as docs/deploy.md does it."""
        self.compose(
            "exec", "-T", "-e", "DJANGO_SUPERUSER_PASSWORD=compose-test-Pw-1234", "web", "python", "manage.py",
            "createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com",
        )
        self.token = self.manage("api_token", username).split()[-1]

    def api(self, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, self.base_url + "/api/v1" + path, headers=headers, timeout=30, **kwargs)

    def api_json(self, path):
        """GET an API path that must answer 200 with JSON."""
        response = self.api("GET", path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def get(self, url, **kwargs):
        """A media or page URL of the app, with the token."""
        url = url if url.startswith("http") else self.base_url + url
        return requests.get(url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30, **kwargs)

    def upload(self, data, name="source.png"):
        response = self.api("POST", "/sources", files={"image": (name, data)})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def create_jobs(self, source_id, count, **params):
        jobs = []
        for _ in range(count):
            response = self.api("POST", "/variations", json={"source": source_id, **params})
            assert response.status_code == 201, response.text
            jobs.append(response.json())
        return jobs

    def jobs(self):
        """Every job, through the paginated list."""
        items, page = [], 1
        while True:
            body = self.api_json(f"/variations?page={page}")
            items += body["items"]
            if len(items) >= body["count"] or not body["items"]:
                return items
            page += 1

    def wait_until_done(self, job_ids, timeout=180):
        deadline = time.monotonic() + timeout
        pending, done = set(job_ids), {}
        while pending and time.monotonic() < deadline:
            for job in self.jobs():
                if job["id"] in pending and job["status"] in TERMINAL:
                    done[job["id"]] = job
                    pending.discard(job["id"])
            time.sleep(1)
        assert not pending, f"{len(pending)} of {len(job_ids)} jobs never finished"
        return done

    def snapshot(self, source_ids):
        """The library as the API shows it: each source's bytes, each job, each output's and thumbnail's bytes."""
        library = {"sources": {}, "jobs": {}}
        for source_id in source_ids:
            source = self.api_json(f"/sources/{source_id}")
            library["sources"][source_id] = (source["sha256"], digest(self.get(source["url"])))
        for job in self.jobs():
            outputs = [
                (output["index"], digest(self.get(output["url"])), digest(self.get(output["thumbnail_url"])))
                for output in job["outputs"]
            ]
            library["jobs"][job["id"]] = (job["source"], job["status"], job["seed"], sorted(outputs))
        return library

    def wait_for_web(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still starting its workers
                pass
            time.sleep(0.5)
        raise AssertionError("web never answered /healthz")


def picture(colour):
    """A PNG source of one colour: a new colour is a new source."""
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(buffer, "PNG")
    return buffer.getvalue()


def digest(response):
    """sha256 of a served file; fails unless it was served whole."""
    assert response.status_code == 200, f"{response.url}: {response.status_code}"
    assert response.content, f"{response.url}: empty"
    return hashlib.sha256(response.content).hexdigest()
