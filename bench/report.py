"""Turn bench/results.json into bench/README.md (one summary of every target, then a part per section),
bench/chart.png, and the headline figures between the bench markers of the top-level README.md.

A section module may give its own `markdown(result)`; otherwise its "rows" (a list of dicts, or of such lists
under named keys) are shown as plain tables. The top-level README is rewritten only from a full run (no
section measured with --quick), so trial runs never reach it.
"""

import importlib
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from .common import markdown_table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("<!-- bench:start (written by bench/report.py from bench/results.json) -->", "<!-- bench:end -->")
TITLES = {
    "throughput": "Near the limit: polling, webhooks and the official SDK",
    "tiers": "Every tier: Bronze and Silver-sized",
    "growth": "How cost grows",
    "footprint": "Footprint",
    "gallery": "Pages",
    "upload": "Upload",
}


def met_text(met):
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def summary_rows(results):
    """(measurement, result, target, met) for every target of every section, in the sections' order."""
    return [
        (item["measurement"], item["result"], item["target"], met_text(item["met"]))
        for section in results["sections"].values()
        for item in section.get("targets", [])
    ]


def summary(results):
    return markdown_table(("measurement", "result", "target", "met"), summary_rows(results))


def cell(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return value


def generic_tables(rows):
    """Plain tables of a section's "rows": a list of dicts, or {title: list of dicts}."""
    groups = rows if isinstance(rows, dict) else {"": rows}
    parts = []
    for title, items in groups.items():
        if not items:
            continue
        header = list(dict.fromkeys(key for item in items for key in item))
        table = markdown_table(header, [[cell(item.get(key, "")) for key in header] for item in items])
        parts.append(f"{title}\n\n{table}" if title else table)
    return "\n\n".join(parts)


def section_markdown(name, result):
    """A section's part of the README: its own text, else its rows as tables, always with its error if any."""
    parts = []
    if result.get("error"):
        parts.append(f"Not measured: `{result['error']}`.")
    else:
        module = importlib.import_module(f"bench.{name}")
        if hasattr(module, "markdown"):
            parts.append(module.markdown(result))
        elif result.get("rows"):
            parts.append(generic_tables(result["rows"]))
    trial = " (a --quick trial run)" if result.get("quick") else ""
    parts.append(f"*Section measured in {result.get('seconds', 0) / 60:.1f} minutes{trial}.*")
    return f"## {TITLES.get(name, name)}\n\n" + "\n\n".join(parts)


def readme_text(results):
    sections = results["sections"]
    minutes = sum(section.get("seconds", 0) for section in sections.values()) / 60
    rows = summary_rows(results)
    counts = {text: sum(row[3] == text for row in rows) for text in ("yes", "**no**", "not measured")}
    body = "\n\n".join(section_markdown(name, result) for name, result in sections.items())
    return f"""# Benchmarks

Measured by `make bench` ({minutes:.1f} minutes of measuring; last run {results['when']} on {results['machine']},
2 cores shared with other work). Everything comes from that run's `bench/results.json`; `chart.png` plots it.
The app runs against the project's **WaveSpeed simulator** (`wavespeed_api/simulator`), a local test double of
the API on loopback that enforces the same concurrency and per-minute limits as the app is given: the runs
measure the app's own overhead, not WaveSpeed. The machine is noisy, so ratios are the result and absolute
times only sit beside them.

![benchmark chart](chart.png)

## Summary

{counts['yes']} targets met, {counts['**no**']} not met, {counts['not measured']} not measured.

{summary(results)}

{body}

## Reproduce

`make bench` installs the `test` and `bench` extras (matplotlib for the chart, the official `wavespeed` SDK) and runs `python -m bench.run`,
which rewrites this file, `chart.png`, `results.json` and the figures in the top-level README. PostgreSQL and
Redis for the tier and growth sections: `BENCH_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`;
a fresh database is made and dropped per run) and `BENCH_REDIS_URL` (default `redis://127.0.0.1:6379/0`). `python
-m bench.run --quick` is a trial at small sizes; `--only SECTION…` re-runs sections into the existing results;
`--report` only renders again.
"""


def headline(results):
    """The top-level README's figures: the three clients near the limit, the tiers, and the count of targets met."""
    sections = results["sections"]
    lines = []
    if "throughput" in sections and "runs" in sections["throughput"]:
        near = sections["throughput"]
        runs = near["runs"]
        rows = [
            ["wall time ÷ best possible"] + [f"{run['wall_seconds'] / run['best_seconds']:.3f}" for run in runs],
            ["wall time ÷ ideal ceil(N/C)·L"] + [f"{run['wall_seconds'] / run['ideal_seconds']:.2f}" for run in runs],
            ["requests per job"] + [f"{run['requests_per_job']:.2f}" for run in runs],
            ["polls per prediction (median)"] + [f"{run['polls_median']:g}" for run in runs],
        ]
        lines += [f"N = {near['n']} jobs, L = {near['latency']:g} s ± {near['jitter']:.0%}, C = {near['concurrency']}:", "",
                  markdown_table([""] + [run["client"] for run in runs], rows), ""]
    rows = summary_rows(results)
    missed = [row for row in rows if row[3] != "yes"]
    lines.append(f"{len(rows) - len(missed)} of {len(rows)} targets met (run {results['when']}).")
    if missed:
        lines += ["", markdown_table(("not met", "result", "target", ""), missed)]
    return "\n".join(lines)


def full_run(results):
    return all(not section.get("quick") for section in results["sections"].values())


def write_top_readme(results, path=ROOT / "README.md"):
    """Replace what stands between the bench markers; False when the README has none."""
    text = path.read_text()
    pattern = re.compile(re.escape(MARKERS[0]) + ".*?" + re.escape(MARKERS[1]), re.DOTALL)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{MARKERS[0]}\n{headline(results)}\n{MARKERS[1]}", text))
    return True


def readme_note(results):
    return "" if full_run(results) else " (a trial run: the top-level README was left alone)"


def write_all(results, here):
    """README.md, chart.png and, from a full run, the top-level README; returns the summary table."""
    (here / "README.md").write_text(readme_text(results))
    write_chart(results, here / "chart.png")
    if full_run(results):
        write_top_readme(results)
    return summary(results)


def write_chart(results, path):
    """Wall time against the best possible near the limit, and the per-job cost as N grows."""
    sections = results["sections"]
    figure, (near, growth) = plt.subplots(1, 2, figsize=(11, 4.2))
    runs = sections.get("throughput", {}).get("runs", [])
    if runs:
        labels = ["best\npossible"] + [run["client"].replace(" + ", "\n+ ").replace(" (", "\n(").replace(" SDK", "\nSDK") for run in runs]
        values = [runs[0]["best_seconds"]] + [run["wall_seconds"] for run in runs]
        near.bar(labels, values, color=["#999", "#2a6f97", "#61a5c2", "#e07a5f"][: len(values)])
        for index, value in enumerate(values):
            near.annotate(f"{value:.1f}", (index, value), ha="center", va="bottom")
        near.set(title=f"Wall time, N={runs[0]['n']}, C=20, L=3 s ±30 %", ylabel="seconds")
    grown = sections.get("growth", {}).get("runs", [])
    if grown:
        sizes = [run["n"] for run in grown]
        growth.plot(sizes, [1000 * run["wall_seconds"] / run["n"] for run in grown], "o-", label="wall time per job, ms")
        growth.plot(sizes, [1000 * run["worker_cpu_seconds"] / run["n"] for run in grown], "s-", label="worker CPU per job, ms")
        if all(run["dispatcher"] for run in grown):
            growth.plot(sizes, [run["dispatcher"]["queries"] / run["n"] for run in grown], "^-", label="SQL queries per job")
        growth.set(xscale="log", xlabel="jobs N", title="Cost per job as N grows (PostgreSQL + Redis)")
        growth.set_xticks(sizes, [f"{size:,}" for size in sizes])
        growth.set_ylim(bottom=0)
        growth.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
