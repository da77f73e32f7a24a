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


def test_polls_are_spread_across_the_range_of_recent_durations():
    timing = learned(*[2.0 + 0.1 * i for i in range(20)])  # 2.0 .. 3.9 s

    first = timing.first_poll_delay(job(), hooked=False)
    gap = timing.next_poll_delay(job(seconds_ago=first))

    earliest, latest, _ = timing.spread(job())
    assert (earliest, latest) == pytest.approx((2.1, 3.8))
    assert gap == pytest.approx((latest - earliest) / 4)
    assert first == pytest.approx(earliest + gap)
    # A job of median length (2.95 s) is caught by its second poll, and every poll falls inside the spread.
    assert first + gap == pytest.approx(2.95)
    assert first + 3 * gap == pytest.approx(latest)


def test_the_spread_scales_with_the_work_a_job_asks_for():
    timing = learned(2.0, 3.0, 4.0)
    assert timing.first_poll_delay(job(size="512*512"), hooked=False) == pytest.approx(
        timing.first_poll_delay(job(), hooked=False) / 4
    )


def test_jobs_that_all_took_the_same_time_are_polled_just_after_it():
    timing = learned(0.8, 0.8, 0.8)
    assert timing.first_poll_delay(job(), hooked=False) == pytest.approx(0.8 + MIN_POLL_GAP)


def test_past_the_spread_polls_back_off_up_to_five_seconds():
    timing = learned(2.0, 3.0, 4.0)
    assert timing.next_poll_delay(job(seconds_ago=10)) == pytest.approx(1.5, abs=0.01)
    assert timing.next_poll_delay(job(seconds_ago=100)) == 5.0


def test_with_a_webhook_coming_polls_are_only_a_slow_backup():
    timing = learned(3.0)
    assert timing.first_poll_delay(job(), hooked=True) == pytest.approx(16.0)
    assert timing.next_poll_delay(job(seconds_ago=3, via_webhook=True)) == 5.0
