"""Settling submits that got no answer, from WaveSpeed's own history of the key's predictions.

A submit POST that timed out, was answered 5xx, or whose dispatcher died before hearing back, may or
may not have created a (charged) prediction. Sending it again blindly could pay twice; failing it could
lose a job that never left. The history tells: predictions of this model we do not know, made around
that moment. The history is the whole account's (the website and other keys show up in it) and has no
inputs, so a task is tied to a job only by model, time and order, never guessed (nor by the seed, which
the history does not carry).

Order is known between bursts (submit.py: a burst starts once every submit of the last one has ended),
not within one. A lone unanswered submit of a burst is exact, its answered neighbours' tasks being
known; several unanswered submits of one burst that all arrived are told apart only by their tagged
webhooks (settle_tagged), and without webhooks they fail as ambiguous rather than be guessed.
"""

import functools
import itertools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

import wavespeed_api as wavespeed

from .. import ledger
from ..models import Status, Variation
from .outcomes import OUTCOMES, Answer, Stage, apply
from .submit import webhook_url

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
    dispatcher died mid-submit). A crash leaves at most one burst of such jobs (submit.py)."""

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
        known = Variation.objects.filter(prediction_id__in=[item.id for item in recent]).values_list("prediction_id", flat=True)
        known = set(known)
        # Submits too young to settle (or still under way) may own some of these tasks: they are claimants too.
        younger = Variation.objects.filter(status=Status.SUBMITTING).exclude(pk__in=[job.pk for job in limbo])
        verdicts = settle(limbo, [item for item in recent if item.id not in known], younger=list(younger))
        for job in limbo:
            verdict = verdicts.get(job.pk)
            if verdict is None and job.submitted_at < timezone.now() - timedelta(seconds=GIVE_UP_SECONDS):
                verdict = Verdict(Answer.AMBIGUOUS, reason=f"it could not be tied to a task within {GIVE_UP_SECONDS} s")
            if verdict is None:
                log.info("unanswered submit of job %s waits for a younger submit's answer or its webhook", job.pk)
                continue
            log.info("unanswered submit of job %s: %s %s", job.pk, verdict.answer.name, verdict.prediction_id)
            settled = apply(job, Stage.RECONCILE, verdict.answer, prediction_id=verdict.prediction_id, message=verdict.reason)
            if settled and verdict.answer is not Answer.NEVER_ARRIVED:  # WaveSpeed took it, or may have
                ledger.charge(job)


def recent_since(client, since):
    """This model's tasks in the account's history, newest first, back to `since`: [HistoryItem]. Other
    models' tasks are left out; one whose time cannot be read stays in (it could be any job's)."""
    found = []
    for page in range(1, MAX_PAGES + 1):
        listed = client.history(page=page)
        found += [item for item in listed if item.model in ("", wavespeed.MODEL_ID)]
        times = [item.created_at for item in listed if item.created_at]
        if len(listed) < 100 or (times and min(times) < since):
            break
    return found


def settle(limbo, unknown, younger=()):
    """Decide each unanswered submit from the tasks of this model WaveSpeed has that no job of ours knows.

    Jobs whose time windows share candidates are decided together; a group with a `younger` submit in it
    (one not yet due for settling, whose answer may still come) is left for a later look. No candidate:
    the submits never arrived, send them again. As many candidates as jobs, each falling in its job's
    window: ranked by creation time, they split into the bursts in claim order (WaveSpeed made earlier
    bursts' tasks first), and a burst of one follows the task of its rank. A burst of several that all
    arrived cannot be told apart: with webhooks it waits while any of its tasks runs (their tagged
    deliveries say whose each is), then fails as ambiguous. Anything else (another client's task in the
    window, a time that cannot be read, a submit that may have been lost beside one that arrived)
    cannot be told apart either: say so, never guess.
    """
    claimants = [*limbo, *younger]
    candidates = {
        job.pk: {item.id: item for item in unknown if item.created_at is None or _fits(job, item)} for job in claimants
    }
    settling = {job.pk for job in limbo}
    verdicts = {}
    for group in _sharing_candidates(claimants, candidates):
        if any(job.pk not in settling for job in group):
            continue
        items = {pid: item for job in group for pid, item in candidates[job.pk].items()}
        if not items:
            verdicts.update((job.pk, Verdict(Answer.NEVER_ARRIVED)) for job in group)
            continue
        ranked = sorted(items.values(), key=lambda item: (item.created_at is None, item.created_at or 0))
        in_order = len(ranked) == len(group) and all(
            item.id in candidates[job.pk] and item.created_at for job, item in zip(group, ranked)
        )
        if not in_order:
            reason = f"{len(items)} tasks at WaveSpeed could be the {len(group)} submits made then"
            verdicts.update((job.pk, Verdict(Answer.AMBIGUOUS, reason=reason)) for job in group)
            continue
        for burst, tasks in _bursts(group, ranked):
            if len(burst) == 1:
                verdicts[burst[0].pk] = Verdict(Answer.ARRIVED, prediction_id=tasks[0].id)
            elif not (webhook_url() and any(task.status not in wavespeed.FINAL_STATUSES for task in tasks)):
                reason = (
                    f"it went out together with {len(burst) - 1} other submits that got no answer either: "
                    "WaveSpeed made a task for each, but which is whose cannot be told"
                )
                verdicts.update((job.pk, Verdict(Answer.AMBIGUOUS, reason=reason)) for job in burst)
    return verdicts


def _fits(job, item):
    """Could WaveSpeed have made `item` for `job`'s submit, by its time (clock skew allowed for)?"""
    answer_window = timedelta(seconds=settings.WAVESPEED_CONNECT_TIMEOUT + settings.WAVESPEED_READ_TIMEOUT)
    return job.submitted_at - CLOCK_SKEW <= item.created_at <= job.submitted_at + answer_window + CLOCK_SKEW


def _bursts(group, ranked):
    """(jobs, their tasks) per burst of `group` (jobs claimed at one moment), earliest first, each burst given
    the next tasks by creation time."""
    taken = 0
    for _, burst in itertools.groupby(group, key=lambda job: job.submitted_at):
        burst = list(burst)
        yield burst, ranked[taken : taken + len(burst)]
        taken += len(burst)


def settle_tagged(job, body):
    """A signed webhook for a task no job knows, sent to the URL that `job`'s submit carried (its id and
    attempt, submit.webhook_url): that submit arrived and made this task. Settles the SUBMITTING job as
    ARRIVED, like the history would, if the task is of this model and from the submit's moment. False
    when it does not fit or the job had moved on."""
    item = wavespeed.HistoryItem(
        str(body.get("id", "")), str(body.get("model", "")), str(body.get("status", "")),
        wavespeed.parse_time(body.get("created_at")),
    )
    if item.model not in ("", wavespeed.MODEL_ID) or item.created_at is None or not _fits(job, item):
        log.warning("tagged webhook for job %s does not fit its submit (%s at %s)", job.pk, item.model, item.created_at)
        return False
    settled = apply(job, Stage.RECONCILE, Answer.ARRIVED, prediction_id=item.id)
    if settled:
        ledger.charge(job)
    return settled


def _sharing_candidates(limbo, candidates):
    """The jobs in groups that share candidate tasks (directly or through each other), each oldest first."""
    groups = []
    for job in sorted(limbo, key=lambda job: job.submitted_at):
        joined = [group for group in groups if any(candidates[job.pk].keys() & candidates[other.pk].keys() for other in group)]
        merged = [other for group in joined for other in group] + [job]
        groups = [group for group in groups if group not in joined] + [sorted(merged, key=lambda j: j.submitted_at)]
    return groups
