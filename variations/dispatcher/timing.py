"""When to poll a prediction: placed on the distribution of recent durations, then backing off.

Recent jobs say how long one takes per unit of work, and how that varies. A finish is noticed on
average half a poll gap late, and every such delay holds a concurrency slot idle, so polls are dense
where finishes are likely. The budget is a median of three polls per prediction: the third poll falls
just past the median duration (CATCH_QUANTILE), the first two before it at the spacing that makes the
least delay for the jobs that finish early. A first prediction knows nothing yet and is polled
more, so the catch poll sits well past the median (CATCH_QUANTILE) to keep the median across all
jobs at three. Past it, polls come POLLS_AFTER_CATCH times until the late tail (LATE_QUANTILE), and
past that they back off gradually as the prediction runs long.
"""

import statistics
from collections import deque

from django.utils import timezone

FIRST_POLL_UNKNOWN = 1.0  # seconds to the first poll until recent jobs tell how long one takes
EARLY_QUANTILE = 0.05  # where the early finishes start
CATCH_QUANTILE = 0.75  # the third poll: three in four jobs need at most three polls
LATE_QUANTILE = 0.95  # where the dense polls end and the back-off starts
POLLS_AFTER_CATCH = 4
MIN_GAP_SHARE = 0.03  # the gap is at least this share of the catch time, while few durations are known
MIN_POLL_GAP = 0.1  # seconds; also the spacing when recent jobs all took the same time
LEARNED_JOBS = 40


def work_units(job):
    """How much computing a job asks for, relative to one 1024*1024 image at 28 steps."""
    return job.num_inference_steps / 28 * job.num_images * job.width * job.height / (1024 * 1024)


def quantile(ordered, q):
    """The q-quantile of sorted values, interpolated between neighbours."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class PollTiming:
    def __init__(self, recent_jobs=()):
        self.seconds_per_unit = deque(maxlen=LEARNED_JOBS)
        for job in recent_jobs:
            self.learn(job, job.inference_ms)

    def learn(self, job, inference_ms):
        if inference_ms:
            self.seconds_per_unit.append(inference_ms / 1000 / max(work_units(job), 0.01))

    def expected_seconds(self, job):
        """How long the job should take at WaveSpeed (None until some job has finished)."""
        if not self.seconds_per_unit:
            return None
        return min(max(statistics.median(self.seconds_per_unit) * work_units(job), 0.3), 300)

    def plan(self, job):
        """(first, early_gap, catch, late_gap, late): seconds after the submit of the first poll, the
        gap before the catch poll, the catch poll, the gap after it, and the end of the dense polls.
        None until some job has finished."""
        if not self.seconds_per_unit:
            return None
        ordered = sorted(min(seconds * work_units(job), 300) for seconds in self.seconds_per_unit)
        early, catch, late = (quantile(ordered, q) for q in (EARLY_QUANTILE, CATCH_QUANTILE, LATE_QUANTILE))
        # Polls at catch - 2g, catch - g and catch: with finishes spread evenly from `early`, the mean delay
        # is least near g = (catch - early) / 3 (those before the first poll wait for it).
        least = max(MIN_POLL_GAP, MIN_GAP_SHARE * catch)
        early_gap = max((catch - early) / 3, least)
        late_gap = max((late - catch) / POLLS_AFTER_CATCH, least)
        catch = max(catch, 2 * early_gap + MIN_POLL_GAP)
        return catch - 2 * early_gap, early_gap, catch, late_gap, max(late, catch)

    def first_poll_delay(self, job, hooked):
        """The first poll per the plan; with a webhook coming, polling is only a late backup."""
        expected = self.expected_seconds(job)
        if hooked:
            return (expected or FIRST_POLL_UNKNOWN) * 2 + 10
        plan = self.plan(job)
        return FIRST_POLL_UNKNOWN if plan is None else plan[0]

    def next_poll_delay(self, job):
        """Per the plan while inside the spread; past it, back off as the prediction runs long.
        Far slower when a webhook will call."""
        elapsed = (timezone.now() - job.submitted_at).total_seconds()
        if job.via_webhook:
            return min(max(0.5 * elapsed, 5.0), 60.0)
        plan = self.plan(job)
        if plan:
            _, early_gap, catch, late_gap, late = plan
            if elapsed + early_gap / 2 < catch:
                return early_gap
            if elapsed < late:
                return late_gap
            return max(late_gap, min(0.25 * (elapsed - late), 5.0))
        return min(max(0.15 * elapsed, 0.3), 5.0)
