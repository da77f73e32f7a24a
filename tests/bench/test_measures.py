"""The benchmark's own arithmetic: the best possible makespan, the per-minute budget used, the dispatcher's
log lines, and when a target counts as met. The bench runs once at the end; these prove its yardsticks."""

import json

import pytest

from bench import report, run
from bench.app import shortfall
from bench.common import (
    best_makespan, budget_used, busy_fraction, command_line, dispatcher_totals, flat, flat_target, machine_cpu,
    most_in_window, process_memory, target,
)


def test_best_makespan_fills_each_free_slot_at_once():
    # Two slots: 3 and 1 start at 0; the 2 takes the slot freed at 1 and ends at 3; the 1 takes the one freed at 3.
    assert best_makespan([3, 1, 2, 1], concurrency=2) == 4


def test_best_makespan_waits_for_a_job_to_exist():
    assert best_makespan([1, 1], releases=[0, 5], concurrency=2) == 6


def test_best_makespan_waits_for_the_per_minute_window():
    # Bronze-like: 3 slots, 10 a minute, 30 jobs of 3 s: the 11th starts at 60 s, the 21st at 120 s,
    # and the last ten finish as fast as three slots allow (ten jobs of 3 s in 3 slots: 4 rounds).
    assert best_makespan([3.0] * 30, concurrency=3, per_minute=10) == 120 + 4 * 3


def test_best_makespan_with_500_a_minute_needs_the_second_minute_for_1000_jobs():
    durations = [3.0] * 1000
    assert best_makespan(durations, concurrency=100, per_minute=0) == 30
    assert best_makespan(durations, concurrency=100, per_minute=500) == 60 + 15


def test_budget_used_is_full_when_each_window_is_used_the_moment_it_opens():
    perfect = [0, 1, 2, 60, 61, 62, 120, 121, 122]
    assert budget_used(perfect, per_minute=3) == pytest.approx(1.0)
    late = [0, 1, 2, 63, 64, 65, 126, 127, 128]
    assert budget_used(late, per_minute=3) == pytest.approx(60 / 63)
    assert budget_used([0, 1, 2], per_minute=3) is None  # the limit never bound


def test_most_in_window_counts_a_rolling_minute():
    assert most_in_window([0, 10, 59.9, 60, 130]) == 3  # 0 and 60 are a minute apart: not in one window
    assert most_in_window([]) == 0


def test_dispatcher_lines_are_summed_over_handovers():
    log = "\n".join([
        "2026-12-01 10:00:00 INFO variations.dispatcher.loop dispatcher run: seconds=30.5 jobs=40 queries=812 cpu_seconds=1.25",
        "some other line: seconds=9 jobs=9",
        '{"level": "INFO", "message": "dispatcher run: seconds=12.0 jobs=60 queries=1000 cpu_seconds=0.75"}',
    ])
    assert dispatcher_totals(log) == {"runs": 2, "seconds": 42.5, "jobs": 100, "queries": 1812, "cpu_seconds": 2.0}
    assert dispatcher_totals("no dispatcher here") is None


def test_flat_means_within_the_tolerance():
    assert flat(2.0, 2.5, 1.25) and not flat(2.0, 2.51, 1.25)
    row = flat_target("CPU per job", 100, 1000, 0.002, 0.003, "ms", 1.25)
    assert row["met"] is False and "3.00 ms at N=1,000 vs 2.00 ms at N=100 (1.50×)" in row["result"]
    assert flat_target("queries per job", 100, 1000, None, 5, "", 1.25)["met"] is None


def test_processes_are_read_from_proc_without_the_machines_paths():
    import os
    import sys

    memory = process_memory(os.getpid())
    assert 0 < memory["pss_mb"] <= memory["rss_mb"]
    assert command_line(os.getpid()).startswith(os.path.basename(sys.executable) + " ")


def test_machine_busy_is_the_share_of_all_cores_time_between_two_readings():
    assert busy_fraction((100, 400), (250, 600)) == pytest.approx(0.75)
    busy, total = machine_cpu()
    assert 0 < busy <= total


def a_run(**measured):
    run = dict(client="app (polling)", n=100, setup={"concurrency": 20}, wall_seconds=18.4, best_seconds=16.9,
               first_submit_seconds=0.5, slot_gap_mean=0.25, learn_p50=0.14, store_p50=0.08, overhead_p50=0.2,
               overhead_p95=0.5, budget_used=None, machine_busy=0.53, cores=2)
    return {**run, **measured}


def test_shortfall_counts_a_freed_slots_idle_time_on_every_turn_after_the_first():
    text = shortfall(a_run())
    assert text.startswith("app (polling), N=100: 1.50 s lost ≈ first submit 0.50 s + 4 turns × a freed slot idle 0.25 s")
    assert "2 cores were 53% busy" in text


def test_shortfall_under_a_per_minute_window_reports_the_window_not_slot_turns():
    text = shortfall(a_run(n=1000, budget_used=0.975, overhead_p95=7.7))
    assert "per-minute window used 97.5%" in text and "p95 7.70 s" in text and "turns" not in text


def results_with(targets, quick=False):
    return {"when": "now", "machine": "m", "sections": {"upload": {"targets": targets, "quick": quick, "seconds": 1}}}


def test_summary_says_met_not_met_and_not_measured():
    results = results_with([target("a", "1", "≤ 2", True), target("b", "3", "≤ 2", False), target("c", "not measured: x", "", None)])
    rows = report.summary_rows(results)
    assert [row[3] for row in rows] == ["yes", "**no**", "not measured"]
    assert "1 of 3 targets met" in report.headline(results)


def test_top_readme_is_rewritten_between_its_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.MARKERS[0]}\nold\n{report.MARKERS[1]}\nafter\n")
    assert report.write_top_readme(results_with([target("a", "1", "≤ 2", True)]), readme)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text and "1 of 1 targets met" in text
    assert not report.full_run(results_with([], quick=True))


def test_only_merges_one_section_into_the_results_there_are(tmp_path, monkeypatch):
    previous = {"when": "then", "machine": "m", "sections": {"throughput": {"error": "Boom: x", "targets": [], "quick": False, "seconds": 5}}}
    (tmp_path / "results.json").write_text(json.dumps(previous))
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results.json")
    monkeypatch.setattr(run, "HERE", tmp_path)
    monkeypatch.setattr(run, "run_section", lambda name, quick: {"targets": [target(name, "1", "1", True)], "quick": quick, "seconds": 1})
    monkeypatch.setattr(report, "write_top_readme", lambda results: pytest.fail("a trial run reached the top README"))
    run.main(["--only", "upload", "--quick"])
    sections = json.loads((tmp_path / "results.json").read_text())["sections"]
    assert list(sections) == ["throughput", "upload"] and sections["upload"]["targets"][0]["met"] is True
    written = (tmp_path / "README.md").read_text()
    assert "| upload | 1 | 1 | yes |" in written and "Not measured: `Boom: x`" in written


def test_a_failing_section_is_recorded_as_not_measured_without_the_machines_paths(monkeypatch):
    class Broken:
        @staticmethod
        def run(quick):
            raise RuntimeError("could not open /srv/somewhere/data/db.sqlite3")

    monkeypatch.setattr(run.importlib, "import_module", lambda name: Broken)
    result = run.run_section("gallery", quick=True)
    assert result["targets"][0]["met"] is None
    assert result["targets"][0]["result"] == "not measured: RuntimeError: could not open db.sqlite3"
