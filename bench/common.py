"""Small tools the measurements share: percentiles, reading a stack's database, sampling process memory."""

import math
import os
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


def unix_time(db_text):
    """A DateTimeField as SQLite stores it (UTC, naive text) in unix seconds."""
    return datetime.fromisoformat(db_text).replace(tzinfo=timezone.utc).timestamp()


class StackDatabase:
    """Read-only look at a live stack's SQLite file (WAL lets it read beside the writers)."""

    def __init__(self, data_dir):
        self.path = Path(data_dir) / "db.sqlite3"

    def query(self, sql, *args):
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
