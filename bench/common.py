"""Small tools the measurements share: percentiles, the best possible makespan, the dispatcher's log lines,
reading a stack's database, and process memory and CPU."""

import bisect
import heapq
import math
import os
import re
import sqlite3
import statistics
import threading
from datetime import datetime, timezone
from pathlib import Path

TERMINAL = ("completed", "failed", "cancelled")


def percentile(values, fraction):
    """The nearest-rank percentile (fraction 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values):
    return statistics.median(values) if values else float("nan")


def mean(values):
    return statistics.fmean(values) if values else float("nan")


def unix_time(value):
    """A DateTimeField in unix seconds: PostgreSQL gives an aware datetime, SQLite naive UTC text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


class StackDatabase:
    """Read-only look at a live stack's database: its own PostgreSQL database, or its SQLite file (WAL lets
    it read beside the writers)."""

    def __init__(self, data_dir, database_url=None):
        self.path = Path(data_dir) / "db.sqlite3"
        self.database_url = database_url

    def query(self, sql, *args):
        if self.database_url:
            import psycopg  # only the PostgreSQL runs need it

            with psycopg.connect(self.database_url) as connection:
                return connection.execute(sql.replace("?", "%s"), args).fetchall()
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=20)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def unfinished(self):
        placeholders = ",".join("?" * len(TERMINAL))
        return self.query(f"SELECT count(*) FROM variations_variation WHERE status NOT IN ({placeholders})", *TERMINAL)[0][0]

    def jobs(self):
        """Every job as a dict of the columns the measurements use."""
        rows = self.query(
            "SELECT id, status, prediction_id, created_at, submitted_at, finished_at, completed_at, poll_count, error_code, "
            "(SELECT count(*) FROM variations_output o WHERE o.variation_id = v.id) FROM variations_variation v"
        )
        keys = ("id", "status", "prediction_id", "created_at", "submitted_at", "finished_at", "completed_at", "poll_count", "error_code", "outputs")
        return [dict(zip(keys, row)) for row in rows]


def group_rss_bytes(process_group):
    """Resident memory of each live process in a process group: {pid: bytes}."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != process_group:  # fields after "(comm)": state, ppid, pgrp, ...
                continue
            with open(f"/proc/{entry.name}/statm") as fh:
                found[int(entry.name)] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


class MemorySampler:
    """Samples a process group's memory in a thread: the largest single process and the group's total."""

    def __init__(self, process_group, interval=0.25):
        self.process_group = process_group
        self.interval = interval
        self.peak_process = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            sizes = group_rss_bytes(self.process_group).values()
            if sizes:
                self.peak_process = max(self.peak_process, max(sizes))
                self.peak_total = max(self.peak_total, sum(sizes))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


# --- the best any client could do ------------------------------------------------------------------------------


def best_makespan(durations, releases=None, concurrency=1, per_minute=0, window=60.0):
    """The makespan of a zero-overhead client: each job starts the instant a slot is free, it exists (its
    release time, seconds from the start) and the rolling per-minute window has room (the k-th start at least
    `window` after the (k - per_minute)-th), as WaveSpeed counts it. Durations in submit order, one image each.
    """
    releases = sorted(releases) if releases is not None else [0.0] * len(durations)
    slots = [0.0] * concurrency
    starts = []
    for index, (duration, release) in enumerate(zip(durations, releases)):
        start = max(heapq.heappop(slots), release)
        if per_minute and index >= per_minute:
            start = max(start, starts[index - per_minute] + window)
        starts.append(start)
        heapq.heappush(slots, start + duration)
    return max(slots)


def budget_used(submit_times, per_minute, window=60.0):
    """How much of a per-minute limit a client used: window ÷ the mean time the limit took to admit
    `per_minute` more images (from the k-th submit to the (k + per_minute)-th). A client that submits the
    instant the window has room scores 1.0; None when the run was too short for the limit to bind."""
    times = sorted(submit_times)
    spans = [later - earlier for earlier, later in zip(times, times[per_minute:])]
    return window / mean(spans) if spans else None


def most_in_window(submit_times, window=60.0):
    """The most submits any rolling window of `window` seconds held (what a per-minute limit caps)."""
    times = sorted(submit_times)
    return max((bisect.bisect_left(times, start + window) - index for index, start in enumerate(times)), default=0)


def flat(small, large, tolerance=1.25):
    """Whether a per-job figure stayed flat as N grew: the large run's within `tolerance`× the small run's."""
    return large <= small * tolerance


def flat_target(measurement, small_n, large_n, before, after, unit, tolerance):
    """A per-job figure at two sizes as a summary row, met when the larger stays within tolerance× the smaller."""
    if before is None or after is None:
        return target(measurement, "not measured: no `dispatcher run:` line in the worker's log", f"≤ {tolerance}×", None)
    scale = 1000 if unit == "ms" else 1
    return target(
        measurement,
        f"{after * scale:.2f} {unit} at N={large_n:,} vs {before * scale:.2f} {unit} at N={small_n:,} "
        f"({after / before if before else float('inf'):.2f}×)",
        f"≤ {tolerance}×", flat(before, after, tolerance),
    )


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def target(measurement, result, goal, met):
    """One row of the summary, as the bench contract shapes it (met None: not measured, why in result)."""
    return {"measurement": measurement, "result": result, "target": goal, "met": met}


# --- the dispatcher's own account, from the worker's log ---------------------------------------------------------

DISPATCHER_RUN = re.compile(
    r"dispatcher run: seconds=(?P<seconds>[\d.]+) jobs=(?P<jobs>\d+) queries=(?P<queries>\d+) "
    r"cpu_seconds=(?P<cpu_seconds>[\d.]+)"
)


def dispatcher_totals(log_text):
    """Sum every `dispatcher run:` line (a dispatcher hands over after FLUXSITE_DISPATCH_SECONDS, so a run
    of the bench spans several): {"runs", "seconds", "jobs", "queries", "cpu_seconds"}, or None without one."""
    matches = list(DISPATCHER_RUN.finditer(log_text))
    if not matches:
        return None
    totals = {"runs": len(matches), "seconds": 0.0, "jobs": 0, "queries": 0, "cpu_seconds": 0.0}
    for match in matches:
        for key, value in match.groupdict().items():
            totals[key] += float(value) if key.endswith("seconds") else int(value)
    return totals


# --- processes: memory counted once, and CPU -------------------------------------------------------------------


def group_pids(process_group):
    """The live processes of a process group."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == process_group:
                    pids.append(int(entry.name))
            except OSError:
                continue  # ended while we looked
    return sorted(pids)


def process_memory(pid):
    """{"pss_mb", "rss_mb"} of a process from /proc/<pid>/smaps_rollup (PSS splits shared pages among the
    processes sharing them, so PSS adds up across processes and RSS does not), or None once it has ended."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line and not line[0].isdigit())
    except OSError:
        return None
    return {key: int(fields[name].split()[0]) / 1024 for key, name in (("pss_mb", "Pss"), ("rss_mb", "Rss"))}


def command_line(pid):
    """The process's command, its program by name only (no paths of the machine in the report)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            words = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return ""
    return " ".join([os.path.basename(words[0]), *words[1:]]).strip()


def machine_cpu():
    """The whole machine's busy and total CPU time so far, in clock ticks of all cores (/proc/stat): what
    the database servers and every other process used too, which no per-process figure shows."""
    with open("/proc/stat") as fh:
        ticks = [int(value) for value in fh.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def busy_fraction(before, after):
    """The share of all cores' time that was busy between two machine_cpu() readings."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def cpu_seconds(pid):
    """User + system CPU of a process and of its children that have ended and been waited for."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def processes(groups):
    """Each live process of the named process groups ({role: pgid}): role, pid, command, PSS/RSS MB, CPU s."""
    found = []
    for role, group in groups.items():
        for pid in group_pids(group):
            memory = process_memory(pid)
            if memory:
                found.append({"role": role, "pid": pid, "command": command_line(pid)[:80], **memory,
                              "cpu_seconds": cpu_seconds(pid)})
    return found
