"""Poll timing: polls spread over how long recent jobs took, then backing off."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from variations.dispatcher.timing import FIRST_POLL_UNKNOWN, MIN_POLL_GAP, PollTiming


def job(seconds_ago=0.0, via_webhook=False, size="1024*1024", inference_ms=None):
    width, height = (int(side) for side in size.split("*"))
    return SimpleNamespace(
        num_inference_steps=28, num_images=1, width=width, height=height, via_webhook=via_webhook,
        submitted_at=timezone.now() - timedelta(seconds=seconds_ago), inference_ms=inference_ms,
    )


def learned(*seconds):
    return PollTiming([job(inference_ms=int(s * 1000)) for s in seconds])


def test_until_a_job_has_finished_the_first_poll_comes_after_a_second():
    assert PollTiming().first_poll_delay(job(), hooked=False) == FIRST_POLL_UNKNOWN


def polls_to_notice(timing, seconds):
    """How many polls the plan takes to notice a job that finishes after `seconds`, and how late."""
    at, polls = timing.first_poll_delay(job(), hooked=False), 1
    while at < seconds:
        at += timing.next_poll_delay(job(seconds_ago=at))
        polls += 1
    return polls, at - seconds


def test_three_polls_notice_three_in_four_jobs_and_the_rest_soon_after():
    durations = [2.0 + 0.1 * i for i in range(20)]  # 2.0 .. 3.9 s
    timing = learned(*durations)
    first, early_gap, catch, late_gap, late = timing.plan(job())

    noticed = [polls_to_notice(timing, seconds) for seconds in durations]
    assert first + 2 * early_gap == pytest.approx(catch)
    assert sum(polls <= 3 for polls, _ in noticed) >= 0.75 * len(durations)
    # Every finish between the first poll and the late tail is noticed within one gap, and the gaps
    # close up past the catch poll.
    inside = [delay for seconds, (_, delay) in zip(durations, noticed) if first <= seconds <= late]
    assert len(inside) >= 12 and max(inside) <= early_gap + 1e-9
    assert late_gap < early_gap
    assert late == pytest.approx(3.805)


def test_the_spread_scales_with_the_work_a_job_asks_for():
    timing = learned(2.0, 3.0, 4.0)
    assert timing.first_poll_delay(job(size="512*512"), hooked=False) == pytest.approx(
        timing.first_poll_delay(job(), hooked=False) / 4
    )


def test_jobs_that_all_took_the_same_time_are_noticed_by_the_third_poll_at_that_time():
    timing = learned(0.8, 0.8, 0.8)
    assert timing.first_poll_delay(job(), hooked=False) == pytest.approx(0.8 - 2 * MIN_POLL_GAP)
    assert polls_to_notice(timing, 0.8) == (3, pytest.approx(0))


def test_past_the_spread_polls_back_off_gradually_up_to_five_seconds():
    timing = learned(2.0, 3.0, 4.0)
    late = timing.plan(job())[-1]
    assert timing.next_poll_delay(job(seconds_ago=10)) == pytest.approx(0.25 * (10 - late), abs=0.01)
    assert timing.next_poll_delay(job(seconds_ago=100)) == 5.0


def test_with_a_webhook_coming_polls_are_only_a_slow_backup():
    timing = learned(3.0)
    assert timing.first_poll_delay(job(), hooked=True) == pytest.approx(16.0)
    assert timing.next_poll_delay(job(seconds_ago=3, via_webhook=True)) == 5.0
