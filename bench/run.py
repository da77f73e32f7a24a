"""Run the benchmark sections and write bench/results.json, bench/README.md and bench/chart.png.

    python -m bench.run                      # what `make bench` runs: every section at full size
    python -m bench.run --quick              # smaller N everywhere, to try the scripts out
    python -m bench.run --only tiers growth  # re-run some sections, merged into the results.json there is
    python -m bench.run --report             # only render README.md and chart.png from results.json

Each section is a module with `run(quick) -> dict` holding "targets" (the summary rows). A section that fails
is recorded as not measured, with its error, so one failure does not cost the others' results.
"""

import argparse
import importlib
import json
import platform
import re
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from . import report

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
# In the order of the summary, with their expected minutes at full size on 2 cores (shown while running).
SECTIONS = {
    "throughput": 1.5, "tiers": 5, "growth": 10, "footprint": 2, "gallery": 3, "upload": 0.5,
}

DIRECTORIES = re.compile(r"(?<![\w.])/(?:[^\s'\"/]+/)+")


def say(text):
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def run_section(name, quick):
    """The section's result, or a not-measured record carrying the error."""
    started = time.monotonic()
    try:
        result = importlib.import_module(f"bench.{name}").run(quick)
    except Exception as exc:  # noqa: BLE001 (any failure of one section is reported, not fatal)
        traceback.print_exc()
        error = DIRECTORIES.sub("", f"{type(exc).__name__}: {exc}")  # no paths of this machine in the report
        result = {"error": error,
                  "targets": [{"measurement": f"{name} section", "result": f"not measured: {error}", "target": "", "met": None}]}
    result.update(quick=quick, seconds=time.monotonic() - started)
    return result


def load(path):
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere: a trial run")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run these sections, keep the others' results")
    parser.add_argument("--report", action="store_true", help="run nothing; render README.md and chart.png again")
    args = parser.parse_args(argv)
    previous = load(RESULTS)
    names = [] if args.report else args.only or list(SECTIONS)
    sections = {name: section for name, section in previous.get("sections", {}).items() if name in SECTIONS}
    for name in names:
        say(f"{name} (about {SECTIONS[name]} min at full size)")
        sections[name] = run_section(name, args.quick)
        say(f"{name} done in {sections[name]['seconds']:.0f} s")
    results = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds") if names else previous.get("when"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "sections": {name: sections[name] for name in SECTIONS if name in sections},
    }
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    summary = report.write_all(results, HERE)
    print(summary)
    say("wrote bench/results.json, bench/README.md, bench/chart.png" + report.readme_note(results))


if __name__ == "__main__":
    main()
