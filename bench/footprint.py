"""Footprint: what `make run` costs in memory, web server + worker, with a key (so no simulator of its own).

Starts the real launcher (`python -m fluxsite.run`, what `make run` starts after migrating) on a fresh data
directory, pointed at a simulator this process serves (its memory is not counted). Reads PSS and RSS of
every process in the launcher's tree from /proc/<pid>/smaps_rollup: once idle, then as the maximum of
samples taken while jobs run and pages are viewed. PSS splits each shared page among the processes that
share it, so PSS adds up to what the tree really costs; summed RSS counts shared pages once per process.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path
from urllib.parse import urljoin

import requests
from PIL import Image

from wavespeed_api.simulator import SimulatorConfig, start_simulator

from .common import StackDatabase

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150
KEY = "bench-footprint-key"
ROLE_ORDER = [
    "launcher", "gunicorn master", "gunicorn worker",
    "qcluster cluster", "qcluster sentinel", "qcluster monitor", "qcluster pusher", "qcluster worker",
]


def process_memory(pid):
    """(PSS, RSS) of one process in MB, from /proc/<pid>/smaps_rollup; (0, 0) if it has ended."""
    fields = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                name, _, rest = line.partition(":")
                if name in ("Pss", "Rss"):
                    fields[name] = int(rest.split()[0]) / 1024  # kB
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields.get("Pss", 0.0), fields.get("Rss", 0.0)


def children_table():
    """{parent pid: [child pids]} of every live process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table.setdefault(int(fields[1]), []).append(int(entry.name))
    return table


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def process_tree(root_pid):
    """{pid: role} for the launcher and everything below it.

    The launcher forks the web server and the worker, so their command lines are the launcher's own; they
    are told apart by shape: qcluster's main process has one child (its sentinel) that has children of its
    own, gunicorn's master has workers without children. The sentinel's children are the monitor, the
    pusher and the task workers (see sentinel_children).
    """
    table = children_table()
    roles = {root_pid: "launcher"}
    for child in table.get(root_pid, []):
        below = table.get(child, [])
        if "wavespeed_simulator" in cmdline(child):
            roles[child] = "simulator"
        elif any(table.get(pid) for pid in below):
            roles[child] = "qcluster cluster"
            for sentinel in below:
                roles[sentinel] = "qcluster sentinel"
                roles.update(sentinel_children(sorted(table.get(sentinel, []))))
        else:
            roles[child] = "gunicorn master"
            roles.update({pid: "gunicorn worker" for pid in below})
    return roles


def sentinel_children(pids):
    """Roles of the sentinel's children (pids in start order): by process title where django-q2 could set one
    (with setproctitle installed), else by order: it starts the task workers, then the monitor, then the pusher."""
    titled = {pid: next((r for r in ("monitor", "pusher") if r in cmdline(pid).lower()), None) for pid in pids}
    if not any(titled.values()) and len(pids) >= 3:
        titled[pids[-2]], titled[pids[-1]] = "monitor", "pusher"
    return {pid: f"qcluster {role or 'worker'}" for pid, role in titled.items()}


def snapshot(root_pid):
    """{pid: (role, PSS MB, RSS MB)} of the launcher's tree now."""
    return {pid: (role, *process_memory(pid)) for pid, role in process_tree(root_pid).items()}


class PeakSampler:
    """Samples the tree in a thread: the largest PSS/RSS each process reached, and the largest totals."""

    def __init__(self, root_pid, interval=0.5):
        self.root_pid = root_pid
        self.interval = interval
        self.peaks = {}  # pid -> [role, pss, rss]
        self.total_pss = self.total_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            now = {pid: row for pid, row in snapshot(self.root_pid).items() if row[2]}  # not ended meanwhile
            for pid, (role, pss, rss) in now.items():
                peak = self.peaks.setdefault(pid, [role, 0.0, 0.0])
                peak[1], peak[2] = max(peak[1], pss), max(peak[2], rss)
            self.total_pss = max(self.total_pss, sum(p for _, p, _ in now.values()))
            self.total_rss = max(self.total_rss, sum(r for _, _, r in now.values()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def rows_of(processes, total_pss, total_rss):
    """Table rows, one per process in ROLE_ORDER, then the total: {"process", "pid", "PSS MB", "RSS MB"}."""
    ordered = sorted(processes.items(), key=lambda item: (ROLE_ORDER.index(item[1][0]) if item[1][0] in ROLE_ORDER else 99, item[0]))
    rows = [{"process": role, "pid": pid, "PSS MB": round(pss, 1), "RSS MB": round(rss, 1)} for pid, (role, pss, rss) in ordered]
    return rows + [{"process": f"total, {len(processes)} processes", "pid": "", "PSS MB": round(total_pss, 1), "RSS MB": round(total_rss, 1)}]


class Launcher:
    """`make run` with a key, on a fresh data directory, and an API token for the load."""

    def __init__(self, data_dir, simulator_url):
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "FLUXSITE_DATA_DIR": str(self.data_dir), "WAVESPEED_API_KEY": KEY,
            "WAVESPEED_BASE_URL": simulator_url, "WAVESPEED_MAX_CONCURRENCY": "20", "WAVESPEED_MAX_PER_MINUTE": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "FLUXSITE_SIMULATOR"):  # make run's own defaults: SQLite, ORM queue
            self.env.pop(name, None)
        self.process = None
        self.log = None

    def manage(self, *args):
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)

    def start(self):
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput", "-v0")  # as `make run` does
        self.manage("shell", "-c", "from django.contrib.auth.models import User; User.objects.create_superuser('bench', '', 'pw-bench-12345')")
        self.token = self.manage("api_token", "bench").stdout.split()[-1]
        self.log = open(self.data_dir / "run.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fluxsite.run", "--port", str(self.port), "--simulator-port", str(free_port())],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base_url + "/healthz", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("fluxsite.run did not start:\n" + (self.data_dir / "run.log").read_text()[-3000:])

    def api(self, method, path, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, self.base_url + "/api/v1" + path, headers=headers, timeout=60, **kwargs)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log:
            self.log.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def source_image():
    out = BytesIO()
    Image.new("RGB", (1024, 768), (90, 120, 160)).save(out, "JPEG")
    return out.getvalue()


def view_pages(stack, job_ids):
    """What a person does beside the jobs: sign in, the library, a gallery, the jobs list, a thumbnail."""
    session = requests.Session()
    login = stack.base_url + "/accounts/login/"
    session.get(login, timeout=30)
    session.post(
        login, data={"username": "bench", "password": "pw-bench-12345", "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")},
        headers={"Referer": login}, timeout=30,
    )
    job = stack.api("GET", f"/variations/{job_ids[0]}").json()
    for path in ("/", f"/sources/{job['source']}/", "/jobs/", "/boards/", "/api/v1/docs"):
        session.get(stack.base_url + path, timeout=30)
    for output in job.get("outputs", [])[:2]:
        session.get(urljoin(stack.base_url, output["thumbnail_url"]), timeout=30)


def push_load(stack, jobs):
    """`jobs` one-image jobs through the API, pages viewed while they run; returns when all are done."""
    source = stack.api("POST", "/sources", files={"image": ("bench.jpg", source_image())}).json()
    ids = [stack.api("POST", "/variations", json={"source": source["id"], "size": "512*512"}).json()["id"] for _ in range(jobs)]
    database = StackDatabase(stack.data_dir)
    deadline = time.monotonic() + 60 + jobs * 3
    while database.unfinished() and time.monotonic() < deadline:
        view_pages(stack, ids)
        time.sleep(1)
    view_pages(stack, ids)
    return jobs - database.unfinished()


def run(quick):
    idle_seconds, jobs = (20, 30) if quick else (30, 100)
    sim = start_simulator(SimulatorConfig(latency=1.0 if quick else 3.0, concurrency=20, per_minute=0, seed=11), port=0)
    stack = None
    with tempfile.TemporaryDirectory(prefix="fluxsite-footprint-") as data_dir:
        try:
            stack = Launcher(data_dir, sim.base_url).start()
            time.sleep(idle_seconds)
            idle = snapshot(stack.process.pid)
            with PeakSampler(stack.process.pid) as sampler:
                done = push_load(stack, jobs)
            loaded = {pid: tuple(peak) for pid, peak in sampler.peaks.items()}
        finally:
            if stack:
                stack.stop()
            sim.stop()
    idle_pss = sum(p for _, p, _ in idle.values())
    idle_rss = sum(r for _, _, r in idle.values())
    rows = {
        f"Idle, {idle_seconds} s after start": rows_of(idle, idle_pss, idle_rss),
        f"Under load: {jobs} jobs and page views (the largest of samples every 0.5 s)": rows_of(loaded, sampler.total_pss, sampler.total_rss),
    }
    return {
        "idle_seconds": idle_seconds,
        "load": {"jobs": jobs, "completed": done, "simulator_latency_s": 1.0 if quick else 3.0},
        "processes_idle": len(idle),
        "idle_pss_mb": round(idle_pss, 1),
        "idle_rss_mb": round(idle_rss, 1),
        "load_pss_mb": round(sampler.total_pss, 1),
        "load_rss_mb": round(sampler.total_rss, 1),
        "rows": rows,
        "targets": [
            {
                "measurement": "make run idle, web + worker: PSS total",
                "result": f"{idle_pss:.0f} MB (RSS summed {idle_rss:.0f} MB), {len(idle)} processes",
                "target": f"≤ {TARGET_MB} MB",
                "met": idle_pss <= TARGET_MB,
            },
            {
                "measurement": f"make run under load ({jobs} jobs + page views): PSS total, max",
                "result": f"{sampler.total_pss:.0f} MB (RSS summed {sampler.total_rss:.0f} MB), {done}/{jobs} jobs done",
                "target": "reported",
                "met": True,
            },
        ],
    }
