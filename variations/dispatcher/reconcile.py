"""Settling submits that got no answer, from WaveSpeed's own history of the key's predictions.

A submit POST that timed out, or whose dispatcher died before hearing back, may or may not have
created a (charged) prediction. Sending it again blindly could pay twice; failing it could lose a
job that never left. The history tells: predictions we do not know, made around that moment.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings

CLOCK_SKEW = timedelta(seconds=60)  # WaveSpeed's clock against ours
GIVE_UP_SECONDS = 600  # a submit still unsettled after this fails as ambiguous
MAX_PAGES = 10


@dataclass
class Verdict:
    action: str  # "resend" | "follow" | "ambiguous"
    prediction_id: str = ""
    reason: str = ""


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
            verdicts[job.pk] = Verdict("resend")
        elif len(mine) == 1 and not shared:
            verdicts[job.pk] = Verdict("follow", prediction_id=mine[0])
        else:
            verdicts[job.pk] = Verdict("ambiguous", reason=f"{len(mine)} predictions at WaveSpeed could be this job's")
    return verdicts
