"""When to poll a prediction: across the spread of recent durations, then backing off.

Recent jobs say how long one takes per unit of work, and how much that varies. Polls are spread
evenly over that spread (from its 10th to its 90th percentile, POLLS_ACROSS_SPREAD of them), so a
typical job is caught by its second or third poll and a finish is noticed on average half a gap
(an eighth of the spread) late, where one poll at the median would notice a shorter job's finish
only then. Past the spread, polls back off.
"""

import statistics
from collections import deque

from django.utils import timezone

FIRST_POLL_UNKNOWN = 1.0  # seconds to the first poll until recent jobs tell how long one takes
POLLS_ACROSS_SPREAD = 4
MIN_POLL_GAP = 0.1  # seconds; also the spacing when recent jobs all took the same time


def work_units(job):
    """How much computing a job asks for, relative to one 1024*1024 image at 28 steps."""
    return job.num_inference_steps / 28 * job.num_images * job.width * job.height / (1024 * 1024)


class PollTiming:
    def __init__(self, recent_jobs=()):
        self.seconds_per_unit = deque(maxlen=20)
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

    def spread(self, job):
        """(earliest, latest, gap): the 10th and 90th percentile of recent durations scaled to this job,
        and the gap between polls that puts POLLS_ACROSS_SPREAD of them between the two. None until known."""
        if not self.seconds_per_unit:
            return None
        ordered = sorted(self.seconds_per_unit)
        units = work_units(job)
        earliest = min(ordered[(len(ordered) - 1) // 10] * units, 300)
        latest = min(ordered[len(ordered) - 1 - (len(ordered) - 1) // 10] * units, 300)
        return earliest, latest, max((latest - earliest) / POLLS_ACROSS_SPREAD, MIN_POLL_GAP)

    def first_poll_delay(self, job, hooked):
        """Poll first one gap into the spread; with a webhook coming, polling is only a late backup."""
        expected = self.expected_seconds(job)
        if hooked:
            return (expected or FIRST_POLL_UNKNOWN) * 2 + 10
        spread = self.spread(job)
        if spread is None:
            return FIRST_POLL_UNKNOWN
        earliest, _, gap = spread
        return max(earliest + gap, 0.3)

    def next_poll_delay(self, job):
        """One gap later while inside the spread; past it, back off as the prediction runs long.
        Far slower when a webhook will call."""
        elapsed = (timezone.now() - job.submitted_at).total_seconds()
        if job.via_webhook:
            return min(max(0.5 * elapsed, 5.0), 60.0)
        spread = self.spread(job)
        if spread and elapsed < spread[1]:
            return spread[2]
        return min(max(0.15 * elapsed, 0.3), 5.0)
