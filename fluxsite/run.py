"""`make run`: the web server and the worker together (and the WaveSpeed simulator when there is no key).

Ctrl-C or SIGTERM stops them all within STOP_GRACE_SECONDS plus a moment; if one of them stops on its own,
the others are stopped too.

The launcher loads Django once and forks the web server and the worker from that loaded state, so the two
share its memory (copy-on-write) instead of each importing Django and the app again: about 50 MB less for
`make run` (bench/footprint.py measures it). The simulator is a separate program, started as one.

Each child runs in a process group (a session) of its own. Stopping sends SIGTERM to each child's main
process only, as `docker stop` does: qcluster then stops its own worker processes, and it hangs if they
are signalled at the same time as itself. Whatever is still alive in a child's group after the grace
period (a worker busy with a dispatcher run, a hung parent) is then killed with SIGKILL, group and all,
so no process is left behind.
"""

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

STOP_GRACE_SECONDS = 10


def stop_on_sigterm(signum, frame):
    """SIGTERM (from `timeout`, systemd, a container) stops everything, as Ctrl-C does."""
    raise KeyboardInterrupt


def simulator_settings(env, simulator_port):
    """The environment and the simulator's flags for simulator mode: the app's limits and the simulator's
    are the same numbers (no per-minute limit unless one is set), so a demo never waits on a limit that
    does not exist."""
    per_minute = env.get("WAVESPEED_MAX_PER_MINUTE") or "0"
    concurrency = env.get("WAVESPEED_MAX_CONCURRENCY") or "3"
    env.update(
        FLUXSITE_SIMULATOR="1",
        WAVESPEED_API_KEY="simulator",
        WAVESPEED_BASE_URL=f"http://127.0.0.1:{simulator_port}",
        WAVESPEED_MAX_PER_MINUTE=per_minute,
        WAVESPEED_MAX_CONCURRENCY=concurrency,
    )
    return [
        "wavespeed_simulator", "--port", str(simulator_port), "--latency", "3",
        "--per-minute", per_minute, "--concurrency", concurrency,
    ]


class Forked:
    """A child forked from the launcher, running `target()` in a session of its own; with the parts of
    subprocess.Popen that the launcher uses (pid, poll, wait, terminate)."""

    def __init__(self, target):
        sys.stdout.flush(), sys.stderr.flush()  # or the child would write the launcher's buffered output again
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.setsid()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the launcher's handler is not the child's
                code = target() or 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)  # never back into the launcher's own code

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
            time.sleep(0.05)
        return self.returncode

    def terminate(self):
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def load_django(env):
    """Django set up in the launcher, to be inherited by the forked web server and worker."""
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fluxsite.settings")
    import django
    from django.db import connections

    django.setup()
    connections.close_all()  # no database connection may be shared across the forks


def collect_static_when_missing(env):
    """Every page names its stylesheets through collectstatic's manifest and fails without it: `make run`
    collects first, a launch by hand may not have. Collected in a process of its own, so the launcher's
    memory, which the web server and the worker inherit, stays as it was."""
    from django.conf import settings

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        print("collecting static files (collectstatic)", flush=True)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], env=env, check=True)


def serve_web(port):
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "-c", "python:fluxsite.gunicorn_conf", "fluxsite.wsgi", "--bind", f"127.0.0.1:{port}"]
    return run()


def run_worker():
    """qcluster returns once its sentinel runs; as `manage.py qcluster` waits for it on exit, so does this."""
    import multiprocessing

    from django.core.management import call_command

    call_command("qcluster")
    for child in multiprocessing.active_children():
        child.join()


def stop_all(processes, grace=STOP_GRACE_SECONDS):
    """SIGTERM each main process, wait up to `grace` seconds, then SIGKILL every child's whole group."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the group outlives its leader while any member lives
        except ProcessLookupError:
            pass
        process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--simulator-port", type=int, default=8765)
    args = parser.parse_args()

    env = dict(os.environ)
    manage = [sys.executable, "manage.py"]
    commands = {}
    if not env.get("WAVESPEED_API_KEY"):
        print(
            "No WAVESPEED_API_KEY: starting the WaveSpeed SIMULATOR (a test double, not the real service).\n"
            "Set WAVESPEED_API_KEY to make real images with WaveSpeed.",
            flush=True,
        )
        commands["simulator"] = manage + simulator_settings(env, args.simulator_port)

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    processes = {}
    try:
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, env=env, start_new_session=True)
        load_django(env)
        collect_static_when_missing(env)
        processes["web"] = Forked(lambda: serve_web(args.port))
        processes["worker"] = Forked(run_worker)
        print(f"fluxsite is running at http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        stopped = [name for name, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(stopped)} stopped; stopping the rest", flush=True)
    except KeyboardInterrupt:
        print("stopping fluxsite", flush=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stopping short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all(list(processes.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
