"""`make run`: the web server and the worker together (and the WaveSpeed simulator when there is no key).

Ctrl-C or SIGTERM stops them all within STOP_GRACE_SECONDS plus a moment; if one of them stops on its own,
the others are stopped too.

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
    commands["web"] = [
        sys.executable, "-m", "gunicorn", "fluxsite.wsgi", "--bind", f"127.0.0.1:{args.port}",
        "--workers", "2", "--threads", "4", "--access-logfile", "-",
    ]
    commands["worker"] = manage + ["qcluster"]

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    processes = {}
    try:
        for name, command in commands.items():
            processes[name] = subprocess.Popen(command, env=env, start_new_session=True)
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
