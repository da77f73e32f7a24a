"""`make test-compose`: the compose stack run for real, through the commands docs/deploy.md gives.

Starts a Docker engine where none runs (./engine), builds the stand-ins for the base images where no
registry answers, then, through the API only: the previous commit's stack with data, upgraded to this
tree's; 20 jobs on three workers with every output served; a worker SIGKILLed mid-run; the whole
stack down and up; a backup restored into a fresh stack; the stack again with media in S3 (moto).
Prints one `N passed, N failed` line and stops everything it started, the engine included.
"""

import argparse
import collections
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from stack import Stack, free_port, picture
import s3_variant

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PROJECT = "fluxsite-compose-test"
NEW_LAYOUT = "team/migrations/0001_initial.py"  # migrations restarted here: no upgrade from before it


def say(text):
    print(f"test-compose: {text}", flush=True)


class Checks:
    """Named checks in order; after a failed one the rest are counted failed without running (they need it)."""

    def __init__(self):
        self.passed, self.failed, self.broken = [], [], None

    def run(self, name, function, *args, always=False):
        """`always`: run even after a failure (tidying up)."""
        if self.broken and not always:
            self.failed.append(name)
            say(f"FAIL {name}: not run, \"{self.broken}\" failed")
            return None
        started = time.monotonic()
        try:
            result = function(*args)
        except Exception as exc:  # a failed check is reported, and the run goes on to tidy up
            self.failed.append(name)
            self.broken = self.broken or name
            say(f"FAIL {name} ({time.monotonic() - started:.0f} s): {exc}")
            traceback.print_exc(limit=3, file=sys.stdout)
            return None
        self.passed.append(name)
        say(f"ok   {name} ({time.monotonic() - started:.0f} s)")
        return result


def checkout(commit, target):
    """This tree (tracked and new files, as a fresh clone plus local edits) or a commit, into `target`."""
    target.mkdir(parents=True)
    if commit:
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
        return
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True,
        capture_output=True,
    ).stdout.decode().split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)


def earlier_commits(limit=5):
    """Up to `limit` commits before HEAD, newest first, that have the restarted migrations (none before
    them can be upgraded). The newest one whose image builds is the one upgraded from."""
    log = subprocess.run(
        ["git", "log", "--format=%h", f"--max-count={limit}", "HEAD~1"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return [
        commit for commit in log
        if subprocess.run(["git", "cat-file", "-e", f"{commit}:{NEW_LAYOUT}"], cwd=ROOT, capture_output=True).returncode == 0
    ]


def env_file():
    """The .env of docs/deploy.md's first deployment, plus quicker limits for a test against the simulator."""
    return (
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        "DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost\n"
        f"POSTGRES_PASSWORD={secrets.token_urlsafe(16)}\n"
        "WAVESPEED_API_KEY=\n"
        "WAVESPEED_MAX_CONCURRENCY=8\n"
        "WAVESPEED_MAX_PER_MINUTE=0\n"
        "WAVESPEED_CONNECT_TIMEOUT=2\n"
        "WAVESPEED_READ_TIMEOUT=5\n"
        "FLUXSITE_SUBMIT_SETTLE_SECONDS=15\n"
        "FLUXSITE_LEASE_SECONDS=5\n"
    )


class Scenario:
    """The steps, in the order a team lives them; state (the stack, the library) carries from one to the next."""

    def __init__(self, work, candidates):
        self.work = work
        self.candidates = candidates
        self.previous = None
        self.env_text = env_file()
        self.port = free_port()
        self.sources, self.library = [], None
        self.stack = self.token = None
        self.queued = []

    def _stack_in(self, directory, **kwargs):
        (directory / ".env").write_text(self.env_text)
        return Stack(directory, PROJECT, self.port, **kwargs)

    def remove_leftovers(self):
        self._stack_in(self.work / "current").down(volumes=True)

    def previous_stack_with_data(self):
        """The previous commit's own compose file and image: no simulator, so its jobs wait queued.
        A commit whose image does not build (a half-made commit) is passed over, loudly, for its parent."""
        for commit in self.candidates:
            checkout(commit, self.work / commit)
            old = self._stack_in(self.work / commit, profiles=())
            try:
                old.compose("build", "migrate")
            except AssertionError as exc:
                say(f"     !!! {commit} does not build, so it cannot be upgraded from: {str(exc).strip().splitlines()[-1]}")
                continue
            self.previous = commit
            say(f"     upgrading from {commit}, the newest earlier commit that builds")
            break
        else:
            raise AssertionError(f"none of {', '.join(self.candidates)} builds")
        old.up(workers=1)
        old.create_admin()
        self.token = old.token
        source = old.upload(picture((200, 80, 40)))
        self.sources.append(source["id"])
        jobs = old.create_jobs(source["id"], 3, size="512*512")
        assert {job["status"] for job in old.jobs()} == {"queued"}
        self.queued = [job["id"] for job in jobs]

    def upgrade(self):
        """`git pull && docker compose up -d --build`: the new image; migrate runs the migrations once, before web."""
        self.stack = self._stack_in(self.work / "current")
        self.stack.up()
        # The simulator as fast and generous as the .env's limits (its defaults are WaveSpeed's Bronze tier).
        self.stack.simulator("/_sim/config", {"per_minute": 0, "concurrency": 8, "latency": 2})
        if not self.previous:  # nothing to upgrade from: a first deployment
            self.stack.create_admin()
            self.sources.append(self.stack.upload(picture((200, 80, 40)))["id"])
            return
        self.stack.token = self.token
        migrate = [(row["State"], row["ExitCode"]) for row in self.stack.containers("migrate")]
        assert migrate == [("exited", 0)], migrate
        migrate_log = self.stack.logs("migrate")
        assert "Applying" in migrate_log or "No migrations to apply" in migrate_log, migrate_log[-2000:]
        for service in ("web", "worker"):
            assert "Applying " not in self.stack.logs(service), f"{service} ran migrations"
        self.stack.manage("migrate", "--check")  # nothing left unapplied
        assert [job["status"] for job in self.stack.jobs()] and self.stack.api("GET", f"/sources/{self.sources[0]}").ok
        # Jobs queued under the old image go out now that the simulator answers.
        done = self.stack.wait_until_done(self.queued)
        assert {job["status"] for job in done.values()} == {"completed"}, done

    def simulator_banner(self):
        page = self.stack.get("/accounts/login/")
        assert page.status_code == 200 and "Simulator mode" in page.text, page.text[:500]

    def twenty_jobs(self):
        self.stack.wait_for_healthy_workers(3)
        source = self.stack.upload(picture((30, 140, 90)))
        self.sources.append(source["id"])
        jobs = self.stack.create_jobs(source["id"], 20, size="512*512", num_images=2)
        done = self.stack.wait_until_done([job["id"] for job in jobs])
        assert {job["status"] for job in done.values()} == {"completed"}, collections.Counter(j["status"] for j in done.values())
        for job in done.values():
            assert len(job["outputs"]) == 2
            for output in job["outputs"]:
                for url in (output["url"], output["thumbnail_url"]):
                    response = self.stack.get(url)
                    assert response.status_code == 200 and response.content, url
                    assert response.headers["Content-Type"].startswith("image/"), url

    def kill_a_worker(self):
        """SIGKILL the worker that runs the dispatcher while jobs are in flight, then start it again."""
        self.stack.simulator("/_sim/config", {"latency": 4})
        jobs = self.stack.create_jobs(self.sources[-1], 20, size="512*512")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            statuses = collections.Counter(job["status"] for job in self.stack.jobs())
            if statuses["processing"] >= 3:
                break
            time.sleep(0.5)
        holder = self.stack.manage("shell", "-c", "from variations.models import DispatcherLease as L; print(L.objects.get().holder)").split()[-1]
        container = holder.split(":")[0]  # the container's host name is its short id
        workers = [row["ID"] for row in self.stack.containers("worker")]
        assert any(cid.startswith(container) for cid in workers), (holder, workers)
        subprocess.run(["docker", "kill", "--signal", "SIGKILL", container], check=True, capture_output=True)
        say(f"     killed worker {container} (the dispatcher) with {statuses['processing']} jobs processing")
        self.stack.up()  # starts the killed container again
        done = self.stack.wait_until_done([job["id"] for job in jobs])
        lost = [job_id for job_id, job in done.items() if job["status"] != "completed"]
        seeds = collections.Counter(p["seed"] for p in self.stack.simulator("/_sim/stats")["predictions"].values())
        twice = [job["seed"] for job in self.stack.jobs() if seeds[job["seed"]] != 1]
        say(f"     {len(lost)} jobs lost, {len(twice)} submitted twice")
        assert not lost and not twice, (lost, twice)
        self.library = self.stack.snapshot(self.sources)

    def down_and_up(self):
        self.stack.down()
        self.stack.up()
        assert self.stack.snapshot(self.sources) == self.library

    def backup_and_restore(self):
        """docs/deploy.md's backup (pg_dump, then the media), a fresh stack (`down -v`), and its restore."""
        backup = self.work / "backup"
        backup.mkdir()
        with open(backup / "fluxsite.dump", "wb") as dump:
            self.stack.compose("exec", "-T", "db", "pg_dump", "-U", "fluxsite", "-Fc", "fluxsite", stdout=dump)
        with open(backup / "media.tar", "wb") as media:
            self.stack.compose("exec", "-T", "web", "tar", "-C", "/data", "-cf", "-", "media", stdout=media)
        self.stack.down(volumes=True)
        self.stack.compose("up", "-d", "--wait", "db")
        with open(backup / "fluxsite.dump", "rb") as dump:
            self.stack.compose("exec", "-T", "db", "pg_restore", "-U", "fluxsite", "-d", "fluxsite", "--clean", "--if-exists", stdin=dump)
        with open(backup / "media.tar", "rb") as media:
            self.stack.compose("run", "--rm", "-T", "--no-deps", "web", "tar", "-C", "/data", "-xf", "-", stdin=media)
        self.stack.up()
        assert self.stack.snapshot(self.sources) == self.library

    def object_storage(self):
        self.stack.down(volumes=True)
        s3_variant.run(self, say)

    def tidy_up(self):
        if self.stack:
            try:
                self.stack.down(volumes=True)
            except AssertionError as exc:
                say(f"could not take the stack down: {exc}")


def engine(command):
    result = subprocess.run([HERE / "engine", command], capture_output=True, text=True)
    sys.stdout.write(result.stderr)
    if result.returncode:
        raise AssertionError(f"engine {command} failed")
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if value:
            os.environ[name] = value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the stack and the engine running (debugging)")
    args = parser.parse_args()
    started = time.monotonic()
    checks = Checks()
    candidates = earlier_commits()
    work = Path(tempfile.mkdtemp(prefix="fluxsite-compose-"))
    scenario = Scenario(work, candidates)
    try:
        checks.run("a Docker engine with Compose v2.24+ (started here when none runs)", engine, "start")
        checks.run("base images (pulled, or stand-ins built from Debian packages)", engine, "base-images")
        if not candidates:
            say(f"no earlier commit has {NEW_LAYOUT} (the restarted migrations): a first deployment, no upgrade")
        checkout(None, work / "current")
        checks.run("leftovers of an earlier run removed", scenario.remove_leftovers)
        if candidates:
            checks.run("the previous commit's stack starts, with an admin, a source and queued jobs", scenario.previous_stack_with_data)
        checks.run("upgrade to this tree: migrations once in migrate, data whole, its queued jobs complete", scenario.upgrade)
        checks.run("the simulator profile: the banner on the pages", scenario.simulator_banner)
        checks.run("three healthy workers; 20 jobs complete; every output and thumbnail is served", scenario.twenty_jobs)
        checks.run("the dispatching worker SIGKILLed mid-run: 0 jobs lost, 0 submitted twice", scenario.kill_a_worker)
        checks.run("down (keeping volumes) and up: every source, job and output still there", scenario.down_and_up)
        checks.run("backup (pg_dump + media), restore into a fresh stack: the library is whole", scenario.backup_and_restore)
        checks.run("media in S3 (moto): stored, served by signed redirects, exported, deleted", scenario.object_storage)
    finally:
        if not args.keep:
            scenario.tidy_up()
            checks.run("the engine this run started stopped", engine, "stop", always=True)
            shutil.rmtree(work, ignore_errors=True)
    say(f"took {time.monotonic() - started:.0f} s")
    print(f"{len(checks.passed)} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
