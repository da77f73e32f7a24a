"""Settling submits that got no answer, from WaveSpeed's own history of the key's predictions.

A submit POST that timed out, or whose dispatcher died before hearing back, may or may not have
created a (charged) prediction. Sending it again blindly could pay twice; failing it could lose a
job that never left. The history tells: predictions we do not know, made around that moment.
"""

import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

import wavespeed_api as wavespeed

from ..models import Status, Variation
from .outcomes import OUTCOMES, Answer, Stage, apply

log = logging.getLogger(__name__)

CLOCK_SKEW = timedelta(seconds=60)  # WaveSpeed's clock against ours
GIVE_UP_SECONDS = 600  # a submit still unsettled after this fails as ambiguous
MAX_PAGES = 10
LOOK_EVERY_SECONDS = 5


@dataclass
class Verdict:
    answer: Answer  # NEVER_ARRIVED, ARRIVED or AMBIGUOUS
    prediction_id: str = ""
    reason: str = ""


class Reconciler:
    """The reconcile stage of one dispatcher: settles jobs left SUBMITTING (no answer came, or their
    dispatcher died mid-submit). Submits go out one at a time (FLUXSITE_SUBMIT_PARALLELISM), so a
    crash leaves at most one such job."""

    def __init__(self, loop):
        self.loop = loop
        self.next_look = 0.0

    def settle_unanswered(self):
        if time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + LOOK_EVERY_SECONDS
        settled_by = timezone.now() - timedelta(seconds=settings.FLUXSITE_SUBMIT_SETTLE_SECONDS)
        limbo = Variation.objects.filter(status=Status.SUBMITTING, submitted_at__lte=settled_by)
        limbo = list(limbo.exclude(pk__in=self.loop.busy).order_by("submitted_at"))
        if limbo:
            self.loop.busy.update(job.pk for job in limbo[1:])
            self.loop.launch(self.list_recent, functools.partial(self.on_listed, limbo=limbo), limbo[0], limbo)

    def list_recent(self, first, limbo):
        return recent_since(self.loop.client(), first.submitted_at - CLOCK_SKEW)

    def on_listed(self, first, future, limbo):
        self.loop.busy.difference_update(job.pk for job in limbo)
        try:
            recent = future.result()
        except wavespeed.WaveSpeedError as exc:
            log.warning("cannot read WaveSpeed's history to settle %d submits: %s", len(limbo), exc.message)
            give_up = timezone.now() - timedelta(seconds=GIVE_UP_SECONDS)
            for job in limbo:
                if job.submitted_at < give_up:
                    apply(job, Stage.RECONCILE, Answer.AMBIGUOUS, message="WaveSpeed's history could not be read")
            self.next_look = time.monotonic() + OUTCOMES[Stage.RECONCILE, Answer.HISTORY_UNREADABLE].retry_after
            return
        known = Variation.objects.filter(prediction_id__in=[pid for pid, _ in recent]).values_list("prediction_id", flat=True)
        known = set(known)
        verdicts = settle(limbo, [(pid, created) for pid, created in recent if pid not in known])
        for job in limbo:
            verdict = verdicts[job.pk]
            log.info("unanswered submit of job %s: %s %s", job.pk, verdict.answer.name, verdict.prediction_id)
            apply(job, Stage.RECONCILE, verdict.answer, prediction_id=verdict.prediction_id, message=verdict.reason)


def recent_since(client, since):
    """The key's predictions, newest first, back to `since`: [(id, created_at)]."""
    found = []
    for page in range(1, MAX_PAGES + 1):
        listed = client.recent_predictions(page=page)
        found += listed
        if len(listed) < 100 or min(created for _, created in listed) < since:
            break
    return found


def settle(limbo, unknown):
    """Decide each unanswered submit from the predictions WaveSpeed has that no job of ours knows.

    None from its moment: the submit never arrived, send it again. Exactly one, claimed by no other
    job in limbo: it arrived, follow that prediction. Anything else cannot be told apart safely.
    """
    answer_window = timedelta(seconds=settings.WAVESPEED_CONNECT_TIMEOUT + settings.WAVESPEED_READ_TIMEOUT)
    candidates = {
        job.pk: [
            pid for pid, created in unknown
            if job.submitted_at - CLOCK_SKEW <= created <= job.submitted_at + answer_window + CLOCK_SKEW
        ]
        for job in limbo
    }
    verdicts = {}
    for job in limbo:
        mine = candidates[job.pk]
        shared = any(mine[0] in others for pk, others in candidates.items() if pk != job.pk) if mine else False
        if not mine:
            verdicts[job.pk] = Verdict(Answer.NEVER_ARRIVED)
        elif len(mine) == 1 and not shared:
            verdicts[job.pk] = Verdict(Answer.ARRIVED, prediction_id=mine[0])
        else:
            verdicts[job.pk] = Verdict(Answer.AMBIGUOUS, reason=f"{len(mine)} predictions at WaveSpeed could be this job's")
    return verdicts
