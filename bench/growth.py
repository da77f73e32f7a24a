"""How cost grows: N = 100, 1,000 and 10,000 jobs on PostgreSQL + Redis, C=100, no per-minute limit, at a
latency short enough (0.2 s) and outputs small enough (256×256) that 10,000 jobs fit in minutes: the run
then measures the app's own cost per job, which should not grow with N.
"""

from .app import Setup, per_job, run_app, servers_unavailable
from .common import flat_target, markdown_table, target
from .throughput import source_image

SETUP = dict(concurrency=100, latency=0.2, jitter=0.3, servers=True, size="256*256", creators=4, timeout=1800.0)
FLAT = 1.25
FIGURES = (("wall", "wall time per job", "ms"), ("dispatcher_cpu", "dispatcher CPU per job", "ms"),
           ("queries", "SQL queries per job", ""))


def run(quick):
    skipped = servers_unavailable()
    sizes = (30, 100, 300) if quick else (100, 1000, 10_000)
    runs = [] if skipped else [run_app(Setup(n, **SETUP), source_image()) for n in sizes]
    return {"sizes": sizes, "skipped": skipped, "runs": runs, "targets": targets(runs, skipped)}


def targets(runs, skipped):
    if skipped:
        return [target(f"how cost grows: {label}, flat", f"not measured: {skipped}", "", None) for _, label, _ in FIGURES]
    small, large = runs[0], runs[-1]
    before, after = per_job(small), per_job(large)
    return [
        flat_target(f"how cost grows (PostgreSQL + Redis, L=0.2 s, C=100): {label}, flat", small["n"], large["n"],
                    before[key], after[key], unit, FLAT)
        for key, label, unit in FIGURES
    ]


def markdown(result):
    if result["skipped"]:
        return f"Not measured: {result['skipped']}."
    rows, memory = [], []
    for run in result["runs"]:
        figures, dispatcher = per_job(run), run["dispatcher"]
        rows.append((
            f"{run['n']:,}", f"{run['create_seconds']:.1f}", f"{run['wall_seconds']:.1f}", f"{run['best_seconds']:.1f}", f"{1000 * figures['wall']:.2f}",
            f"{1000 * figures['dispatcher_cpu']:.2f}" if dispatcher else "–",
            f"{figures['queries']:.1f}" if dispatcher else "–", f"{1000 * figures['worker_cpu']:.2f}",
            f"{run['requests_per_job']:.2f}", f"{run['learn_p50']:.2f} / {run['store_p50']:.2f}",
            f"{1000 * run['bench_cpu_seconds'] / run['n']:.2f}",
        ))
        memory += [(f"{run['n']:,}", p["role"], p["command"], f"{p['pss_mb']:.0f}", f"{p['rss_mb']:.0f}")
                   for p in run["processes_at_end"]]
    return f"""N = {", ".join(f"{n:,}" for n in result["sizes"])} jobs through the app on PostgreSQL + Redis, C=100, no per-minute
limit, L = 0.2 s ± 30 %, outputs 256×256 (so 10,000 jobs fit in minutes and the simulator's renders stay cheap),
jobs created by 4 client threads through the API (on 2 cores the web process creating them competes with the
worker, so at large N the wall time follows the rate jobs arrive at; best possible counts it). Per-job figures
should not grow with N. Dispatcher CPU and queries come from
its `dispatcher run:` log lines; worker CPU is all qcluster processes' user + system time at the end; simulator +
client CPU is the bench process's own, on the same 2 cores.

{markdown_table(("N", "creating jobs s", "wall s", "best possible s", "wall ms/job", "dispatcher CPU ms/job", "queries/job",
                 "worker CPU ms/job", "requests/job", "finish → app knows / → stored, p50 s",
                 "simulator + client CPU ms/job"), rows)}

Memory of each process at the end of each run (`/proc/<pid>/smaps_rollup`; PSS counts shared pages once
across processes, RSS in each):

{markdown_table(("N", "role", "command", "PSS MB", "RSS MB"), memory)}"""
