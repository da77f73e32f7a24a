"""What each answer does to a job: one table from (stage, answer) to the job's next status, the fields
written, whether it is tried again and when the dispatcher looks at it next.

Read next to models.TRANSITIONS (what may follow what), it tells the whole life of a job. The stages
(submit.py, follow.py, store.py, reconcile.py) only say which answer came and what they learned;
`apply` turns the outcome into one conditional write, so changing a reaction is changing a row here.
"""

import enum
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.db.models import Case, F, Value, When
from django.utils import timezone

import wavespeed_api as wavespeed

from ..models import MAX_SUBMIT_ATTEMPTS, RETRYABLE_TASK_CODES, ErrorCode, Status, Variation

MAX_STORE_ATTEMPTS = 5
KEY_RECHECK_SECONDS = 60  # a refused key is tried again, and polls it was refused for, after this long
POLL_ERROR_SECONDS = 2.0  # a failed poll is repeated no sooner than this
DELETE_RETRY_SECONDS = 10
MEDIA_UNREADABLE_CODE = "1402"  # WaveSpeed could not fetch the image URL
MEDIA_RESENDS = 1  # a job failed so is sent again with a fresh upload this often
MAX_DELETE_ATTEMPTS = 3  # a delete that fails for now is tried this often, then let go
HISTORY_RETRY_SECONDS = 30


class Stage(enum.Enum):
    CLAIM = "a queued job is taken to be sent"
    BUDGET = "the claimed job's price is held against the monthly budget"
    UPLOAD = "the source is uploaded to WaveSpeed"
    SUBMIT = "the job is submitted"
    RECONCILE = "a submit that got no answer is settled from WaveSpeed's history"
    POLL = "the prediction is polled"
    RESULT = "the prediction has finished (seen by a poll, in the submit's answer or in a webhook)"
    TIMEOUT = "the prediction runs past WAVESPEED_PREDICTION_TIMEOUT"
    STORE = "the outputs are copied into our storage"
    DELETE = "a prediction no job wants any more is deleted at WaveSpeed"


# The status a job is in when each stage meets it (DELETE: a cancelled or failed job, any).
STAGE_STATUS = {
    Stage.CLAIM: Status.QUEUED,
    Stage.BUDGET: Status.SUBMITTING,
    Stage.UPLOAD: Status.SUBMITTING,
    Stage.SUBMIT: Status.SUBMITTING,
    Stage.RECONCILE: Status.SUBMITTING,
    Stage.POLL: Status.PROCESSING,
    Stage.RESULT: Status.PROCESSING,
    Stage.TIMEOUT: Status.PROCESSING,
    Stage.STORE: Status.STORING,
}


class Answer(enum.Enum):
    SLOT_FREE = "the job is next and WaveSpeed has room for it"
    OVER_BUDGET = "the job does not fit this month's budget"
    PRICE_UNKNOWN = "a monthly budget is set and nobody can tell the job's price"
    ACCEPTED = "WaveSpeed took the task and gave its id"
    ACCEPTED_AFTER_CANCEL = "WaveSpeed took the task of a job cancelled while the submit was under way"
    # WaveSpeed's errors, as answer_to() reads them
    UNAUTHORIZED = "401 or 403: the key or its account is refused"
    UNAUTHORIZED_AGAIN = "401 or 403 to a submit of the burst whose sibling had the key refused already"
    NO_CREDIT = "the balance is too low"
    RATE_LIMITED = "429: too many requests or tasks at once"
    NOT_FOUND = "404"
    REFUSED = "another 4xx: the request as it stands"
    SERVER_ERROR = "5xx, or WaveSpeed could not be reached"
    MALFORMED = "an answer that cannot be read"
    NO_ANSWER = "the submit may have arrived, but no clear answer came"
    LOCAL_FAILURE = "our side failed (reading the source, a bug), not WaveSpeed"
    # the prediction
    RUNNING = "not finished yet"
    COMPLETED = "completed with outputs"
    NO_OUTPUT = "completed without any output"
    FAILED_RETRYABLE = "failed with a code that refunds it and allows sending again (5000, 5003, 5004)"
    MEDIA_UNREADABLE = "failed with 1402 (WaveSpeed could not fetch the source's link) on the first attempt"
    FAILED = "failed (or cancelled, or timed out) for good"
    OVERDUE = "still running after WAVESPEED_PREDICTION_TIMEOUT"
    # WaveSpeed's history, for a submit without an answer (reconcile.settle)
    NEVER_ARRIVED = "no unknown prediction from that moment"
    ARRIVED = "exactly one unknown prediction from that moment"
    AMBIGUOUS = "the history cannot tell"
    HISTORY_UNREADABLE = "the history could not be read"
    # our storage, and WaveSpeed's delete
    STORED = "every output is stored"
    NOT_STORED = "some outputs could not be downloaded or stored"
    DELETED = "WaveSpeed deleted the prediction"
    NOT_DELETED = "the delete failed for now (5xx, 429, unreadable): tried again, MAX_DELETE_ATTEMPTS times in all"
    DELETE_GIVEN_UP = "WaveSpeed refused the delete, does not know the task, or failed it every time: logged and let go"


class Wait(enum.Enum):
    """When the dispatcher looks at a job again (written as next_poll_at)."""

    NOW = "at once"
    POLL_GAP = "the poll timing's gap for this job (the stage's poll_gap fact)"
    AFTER_ERROR = "the poll gap, but at least POLL_ERROR_SECONDS"
    KEY_RECHECK = "when the refused key is tried again"
    BACKOFF = "2 ** attempts seconds"

    def seconds(self, facts, attempts):
        if self is Wait.NOW:
            return 0
        if self is Wait.POLL_GAP:
            return facts["poll_gap"]
        if self is Wait.AFTER_ERROR:
            return max(facts["poll_gap"], POLL_ERROR_SECONDS)
        if self is Wait.KEY_RECHECK:
            return KEY_RECHECK_SECONDS
        return 2**attempts


@dataclass(frozen=True)
class Outcome:
    status: Status | None  # the next status; None: it stays (the fields are written if it still is)
    error_code: str = ""
    error: str | None = None  # a template filled from the facts and {attempts}; None leaves the message
    writes: tuple = ()  # facts the stage learned that are written as they are (prediction_id, poll_count ...)
    sets: dict = field(default_factory=dict)  # fields written with fixed values
    next_poll: Wait | None = None
    retry: "Outcome | None" = None  # taken instead while attempts remain (submits, or downloads at STORE)
    counts_as_attempt: bool = True  # False: the submit attempt counted at the claim is given back
    pause_submits: bool = False  # back off before the next submit
    refuse_key: bool = False  # hold every submit until WaveSpeed accepts the key (its account, its balance) again
    any_status: bool = False  # write even though the job has moved on (it was cancelled meanwhile)
    retry_after: float | None = None  # seconds before the stage tries again (kept by the stage, not the row)


NOT_SENT = {"submitted_at": None}  # it holds no place in the per-minute window


def send_again(what, code):
    """WaveSpeed could not take the request, but did not refuse it: send it again, up to MAX_SUBMIT_ATTEMPTS."""
    return Outcome(
        Status.FAILED, code, f"{what} {{attempts}} times: {{message}}", pause_submits=True,
        retry=Outcome(Status.QUEUED, error="Attempt {attempts}: {message}", sets=NOT_SENT),
    )


def refused(what, code):
    """A submit or upload answered with an error: nothing was created at WaveSpeed."""
    final = Outcome(Status.FAILED, code, f"{what}: {{message}}")
    return {
        Answer.UNAUTHORIZED: Outcome(Status.FAILED, ErrorCode.UNAUTHORIZED, f"{what}: {{message}}", refuse_key=True),
        # Not an attempt: WaveSpeed only asked us to wait.
        Answer.RATE_LIMITED: Outcome(Status.QUEUED, sets=NOT_SENT, counts_as_attempt=False, pause_submits=True),
        Answer.SERVER_ERROR: send_again(what, code),
        Answer.MALFORMED: send_again(what, code),
        # Nothing was made and no submit can succeed until a top-up: the job waits with the rest.
        Answer.NO_CREDIT: Outcome(Status.QUEUED, sets=NOT_SENT, counts_as_attempt=False, refuse_key=True),
        Answer.NOT_FOUND: final,
        Answer.REFUSED: final,
    }


POLLED = ("poll_count",)
POLL_LATER = Outcome(None, writes=POLLED, next_poll=Wait.AFTER_ERROR)
TASK_FAILED = Outcome(Status.FAILED, error="{message}", writes=("finished_at", *POLLED, "inference_ms", "error_code"))
AMBIGUOUS = (
    "The submit got no answer and {message}. WaveSpeed may have run it (and charged it), "
    "so it was not sent again: retry the job to run it."
)

OUTCOMES = {
    (Stage.CLAIM, Answer.SLOT_FREE): Outcome(Status.SUBMITTING, writes=("submitted_at", "submit_attempts")),
    (Stage.BUDGET, Answer.OVER_BUDGET): Outcome(Status.FAILED, ErrorCode.BUDGET_REACHED, "{message}", sets=NOT_SENT),
    # Money fails closed: it waits (pages and API say why) until WaveSpeed quotes a price.
    (Stage.BUDGET, Answer.PRICE_UNKNOWN): Outcome(
        Status.QUEUED, error="", sets=NOT_SENT, counts_as_attempt=False, pause_submits=True
    ),
    **{(Stage.UPLOAD, a): o for a, o in refused("Upload of the source to WaveSpeed failed", ErrorCode.UPLOAD).items()},
    **{(Stage.SUBMIT, a): o for a, o in refused("WaveSpeed refused the job", ErrorCode.BAD_REQUEST).items()},
    # One job of a burst fails for a refused key; the others sent with it wait with the rest, as if never sent.
    (Stage.SUBMIT, Answer.UNAUTHORIZED_AGAIN): Outcome(Status.QUEUED, sets=NOT_SENT, counts_as_attempt=False),
    (Stage.SUBMIT, Answer.LOCAL_FAILURE): send_again("Submit failed", ErrorCode.UPLOAD),
    # It stays SUBMITTING: WaveSpeed's history is asked (RECONCILE) before anything is sent again.
    (Stage.SUBMIT, Answer.NO_ANSWER): Outcome(None, error="{message}; checking WaveSpeed"),
    (Stage.SUBMIT, Answer.ACCEPTED): Outcome(
        Status.PROCESSING, writes=("prediction_id", "submitted_at", "via_webhook"), next_poll=Wait.POLL_GAP
    ),
    (Stage.SUBMIT, Answer.ACCEPTED_AFTER_CANCEL): Outcome(
        None, writes=("prediction_id",), sets={"delete_pending": True}, any_status=True
    ),
    (Stage.RECONCILE, Answer.NEVER_ARRIVED): Outcome(
        Status.QUEUED, error="The submit never reached WaveSpeed; sent again.", sets=NOT_SENT
    ),
    (Stage.RECONCILE, Answer.ARRIVED): Outcome(Status.PROCESSING, error="", writes=("prediction_id",), next_poll=Wait.NOW),
    (Stage.RECONCILE, Answer.AMBIGUOUS): Outcome(Status.FAILED, ErrorCode.SUBMIT_AMBIGUOUS, AMBIGUOUS),
    # Each job stays; one unsettled past reconcile.GIVE_UP_SECONDS fails as AMBIGUOUS.
    (Stage.RECONCILE, Answer.HISTORY_UNREADABLE): Outcome(None, retry_after=HISTORY_RETRY_SECONDS),
    (Stage.POLL, Answer.RUNNING): Outcome(None, writes=POLLED, next_poll=Wait.POLL_GAP),
    (Stage.POLL, Answer.NOT_FOUND): Outcome(
        Status.FAILED, ErrorCode.NOT_FOUND, "WaveSpeed no longer has this prediction.", writes=POLLED
    ),
    (Stage.POLL, Answer.UNAUTHORIZED): Outcome(None, writes=POLLED, next_poll=Wait.KEY_RECHECK, refuse_key=True),
    (Stage.POLL, Answer.NO_CREDIT): POLL_LATER,
    (Stage.POLL, Answer.RATE_LIMITED): POLL_LATER,
    (Stage.POLL, Answer.REFUSED): POLL_LATER,
    (Stage.POLL, Answer.SERVER_ERROR): POLL_LATER,
    (Stage.POLL, Answer.MALFORMED): POLL_LATER,
    (Stage.RESULT, Answer.COMPLETED): Outcome(
        Status.STORING,
        writes=("finished_at", *POLLED, "inference_ms", "remote_output_urls", "remote_nsfw"),
        next_poll=Wait.NOW,
    ),
    (Stage.RESULT, Answer.NO_OUTPUT): Outcome(
        Status.FAILED, ErrorCode.TASK_FAILED, "WaveSpeed finished without any output.", writes=("finished_at", *POLLED)
    ),
    (Stage.RESULT, Answer.FAILED): TASK_FAILED,
    # Refunded and certainly ended at WaveSpeed, so safe to send again.
    (Stage.RESULT, Answer.FAILED_RETRYABLE): replace(
        TASK_FAILED,
        retry=Outcome(
            Status.QUEUED, error="Attempt {attempts}: {message}", writes=POLLED, sets={"prediction_id": "", **NOT_SENT}
        ),
    ),
    # The source's link is forgotten (follow.record_result): the job goes again with a fresh upload, once.
    (Stage.RESULT, Answer.MEDIA_UNREADABLE): Outcome(
        Status.QUEUED, error="Attempt {attempts}: {message}; the source is uploaded again.", writes=POLLED,
        sets={"prediction_id": "", **NOT_SENT},
    ),
    (Stage.TIMEOUT, Answer.OVERDUE): Outcome(
        Status.FAILED, ErrorCode.TIMEOUT, "WaveSpeed did not finish the prediction within {timeout} s.",
        sets={"delete_pending": True},
    ),
    (Stage.STORE, Answer.STORED): Outcome(Status.COMPLETED, writes=("download_attempts",)),
    (Stage.STORE, Answer.NOT_STORED): Outcome(
        Status.FAILED, ErrorCode.DOWNLOAD, "Outputs could not be stored after {attempts} attempts: {message}",
        writes=("download_attempts",),
        retry=Outcome(None, writes=("download_attempts",), next_poll=Wait.BACKOFF),
    ),
    (Stage.DELETE, Answer.DELETED): Outcome(None, sets={"delete_pending": False}),
    (Stage.DELETE, Answer.NOT_DELETED): Outcome(None, retry_after=DELETE_RETRY_SECONDS),
    # Never blocks the queue: a job waiting for a delete holds a slot only this long.
    (Stage.DELETE, Answer.DELETE_GIVEN_UP): Outcome(None, sets={"delete_pending": False}),
}

ERROR_ANSWERS = (
    (wavespeed.Unauthorized, Answer.UNAUTHORIZED),  # Forbidden is one too
    (wavespeed.InsufficientBalance, Answer.NO_CREDIT),
    (wavespeed.RateLimited, Answer.RATE_LIMITED),
    (wavespeed.NotFound, Answer.NOT_FOUND),
    (wavespeed.AmbiguousSubmit, Answer.NO_ANSWER),
    (wavespeed.ServerError, Answer.SERVER_ERROR),
    (wavespeed.MalformedResponse, Answer.MALFORMED),
)


def answer_to(error):
    """The answer a WaveSpeedError stands for (BadRequest and any other refusal: REFUSED)."""
    return next((answer for kind, answer in ERROR_ANSWERS if isinstance(error, kind)), Answer.REFUSED)


def result_answer(prediction, job):
    """The answer a finished prediction of `job` stands for."""
    if prediction.status == "completed":
        return Answer.COMPLETED if prediction.outputs else Answer.NO_OUTPUT
    if prediction.error_code == MEDIA_UNREADABLE_CODE and job.submit_attempts <= MEDIA_RESENDS:
        return Answer.MEDIA_UNREADABLE
    return Answer.FAILED_RETRYABLE if prediction.error_code in RETRYABLE_TASK_CODES else Answer.FAILED


def attempts_of(job, stage, facts):
    """(attempts made, this one included, and how many are allowed) for the outcome's retry."""
    if stage is Stage.STORE:
        return facts["download_attempts"], MAX_STORE_ATTEMPTS
    return job.submit_attempts, MAX_SUBMIT_ATTEMPTS


def apply(job, stage, answer, effects=None, **facts):
    """Make the outcome of `answer` at `stage` happen to `job`, in one conditional write.

    `facts` are what the stage learned (message, prediction_id, poll_count ...): the outcome writes
    those it lists and fills its message from them. Its effects on the dispatcher itself (back off,
    hold the key) go to `effects`. Returns False when nothing was written: the job had moved on
    meanwhile (a cancel, another process), or the outcome writes nothing.
    """
    if STAGE_STATUS.get(stage, job.status) != job.status:
        raise ValueError(f"{stage.name} does not meet {job.status} jobs")
    outcome = OUTCOMES[stage, answer]
    if outcome.refuse_key:
        effects.refuse_key(facts["message"], facts.get("kind", ""))
    if outcome.pause_submits:
        effects.pause_submits()
    attempts, allowed = attempts_of(job, stage, facts)
    if outcome.retry and attempts < allowed:
        outcome = outcome.retry
    fields = {name: facts[name] for name in outcome.writes if name in facts} | outcome.sets
    if outcome.error_code:
        fields["error_code"] = outcome.error_code
    if outcome.error is not None:
        fields["error"] = outcome.error.format(attempts=attempts, **facts)
    if not outcome.counts_as_attempt:
        fields["submit_attempts"] = job.submit_attempts - 1
    if outcome.next_poll:
        fields["next_poll_at"] = timezone.now() + timedelta(seconds=outcome.next_poll.seconds(facts, attempts))
    if outcome.status is not None:
        return job.move_to(outcome.status, **fields)
    if not fields:
        return False
    rows = Variation.objects.filter(pk=job.pk)
    if not outcome.any_status:
        rows = rows.filter(status=job.status)
    return bool(rows.update(**fields))


def apply_together(stage, answer, facts_by_job):
    """apply() for many jobs at once, for an outcome that leaves the status as it is and writes only facts
    (a poll that found the prediction still running): one UPDATE in which each job's row changes only while
    the job is still in the status the stage met it in, as apply's own write would. `facts_by_job`:
    [(job, facts)]. Returns how many rows were written."""
    outcome = OUTCOMES[stage, answer]
    if outcome.status is not None or outcome.error is not None or outcome.retry or outcome.any_status \
            or outcome.refuse_key or outcome.pause_submits:
        raise ValueError(f"{stage.name} {answer.name} is not written together")
    values = {}  # field name -> {job id: value}
    for job, facts in facts_by_job:
        if STAGE_STATUS[stage] != job.status:
            raise ValueError(f"{stage.name} does not meet {job.status} jobs")
        fields = {name: facts[name] for name in outcome.writes if name in facts} | outcome.sets
        if outcome.next_poll:
            wait = outcome.next_poll.seconds(facts, attempts_of(job, stage, facts)[0])
            fields["next_poll_at"] = timezone.now() + timedelta(seconds=wait)
        for name, value in fields.items():
            values.setdefault(name, {})[job.pk] = value
    if not values:
        return 0
    written = {}
    for name, by_job in values.items():
        field = Variation._meta.get_field(name)
        whens = [When(pk=pk, then=Value(value, output_field=field)) for pk, value in by_job.items()]
        written[name] = Case(*whens, default=F(name), output_field=field)
    rows = Variation.objects.filter(pk__in=[job.pk for job, _ in facts_by_job], status=STAGE_STATUS[stage])
    return rows.update(**written)

