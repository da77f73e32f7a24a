"""When to poll a prediction: near its expected finish, learned from recent jobs, then backing off."""

import statistics
from collections import deque

from django.utils import timezone

FIRST_POLL_UNKNOWN = 1.0  # seconds to the first poll until recent jobs tell how long one takes


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

    def first_poll_delay(self, job, hooked):
        """Poll first near the expected finish; with a webhook coming, polling is only a late backup."""
        expected = self.expected_seconds(job) or FIRST_POLL_UNKNOWN
        return expected * 2 + 10 if hooked else expected

    def next_poll_delay(self, job):
        """Back off as a prediction runs past its expected time; far slower when a webhook will call."""
        elapsed = (timezone.now() - job.submitted_at).total_seconds()
        if job.via_webhook:
            return min(max(0.5 * elapsed, 5.0), 60.0)
        return min(max(0.15 * elapsed, 0.3), 5.0)
