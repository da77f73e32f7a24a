"""Run every measurement once and write bench/README.md, bench/chart.png and bench/results.json.

    python -m bench.run            # what `make bench` runs (about 8 minutes on 2 cores)
    python -m bench.run --quick    # smaller N everywhere, to try the scripts out
"""

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import gallery, report, throughput, upload

HERE = Path(__file__).resolve().parent


def say(text):
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N=40 and a 1,000-source library: a trial run")
    args = parser.parse_args()
    n = 40 if args.quick else 100
    growth_sizes = (10, 40, 100) if args.quick else (10, 100, 1000)
    started = time.monotonic()
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "n": n,
        "latency": throughput.LATENCY,
        "jitter": throughput.JITTER,
        "concurrency": throughput.CONCURRENCY,
    }
    say(f"throughput: the app, polling, N={n}")
    polling = throughput.run_app(n)
    say(f"throughput: the app with webhooks, N={n}")
    hooked = throughput.run_app(n, webhooks=True)
    say(f"throughput: the official SDK, N={n}")
    sdk = throughput.run_sdk(n)
    results["throughput"] = [polling, hooked, sdk]
    growth = []
    for size in growth_sizes:
        if size == n:
            growth.append(polling)
            continue
        say(f"cost growth: N={size}")
        growth.append(throughput.run_app(size))
    results["growth"] = growth
    say("gallery pages at scale")
    results["gallery"] = gallery.run(large=1000 if args.quick else 10_000)
    say("uploads")
    results["upload"] = upload.run()
    results["bench_seconds"] = time.monotonic() - started
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write_chart(results, HERE / "chart.png")
    table = report.write_readme(results, HERE / "README.md")
    print(table)
    say(f"done in {results['bench_seconds']:.0f} s: bench/README.md, bench/chart.png")


if __name__ == "__main__":
    main()
