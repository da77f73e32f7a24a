"""`make run`: the web server and the worker together (and the WaveSpeed simulator when there is no key).

Ctrl-C stops them all; if one of them stops on its own, the others are stopped too.
"""

import argparse
import os
import signal
import subprocess
import sys
import time


def stop_on_sigterm(signum, frame):
    """SIGTERM (from `timeout`, systemd, a container) stops everything, as Ctrl-C does."""
    raise KeyboardInterrupt


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
        env.update(
            FLUXSITE_SIMULATOR="1",
            WAVESPEED_API_KEY="simulator",
            WAVESPEED_BASE_URL=f"http://127.0.0.1:{args.simulator_port}",
        )
        commands["simulator"] = manage + ["wavespeed_simulator", "--port", str(args.simulator_port), "--latency", "3"]
    commands["web"] = [
        sys.executable, "-m", "gunicorn", "fluxsite.wsgi", "--bind", f"127.0.0.1:{args.port}",
        "--workers", "2", "--threads", "4", "--access-logfile", "-",
    ]
    commands["worker"] = manage + ["qcluster"]

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    processes = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
    print(f"fluxsite is running at http://127.0.0.1:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        stopped = [name for name, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(stopped)} stopped; stopping the rest", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 10
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
