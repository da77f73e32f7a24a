"""The outcome table on its own (variations/dispatcher/outcomes.py): what each answer does to a job, checked
as table lookups and on plain rows, without the simulator or the network."""

from concurrent.futures import Future
from datetime import timedelta

import pytest
from django.utils import timezone

import wavespeed_api as wavespeed
from tests.factories import make_job
from variations.dispatcher import Dispatcher
from variations.dispatcher.follow import record_result
from variations.dispatcher.outcomes import (
    KEY_RECHECK_SECONDS,
    MAX_STORE_ATTEMPTS,
    OUTCOMES,
    STAGE_STATUS,
    Answer,
    Stage,
    answer_to,
    apply,
    apply_together,
)
from variations.models import MAX_SUBMIT_ATTEMPTS, TRANSITIONS, ErrorCode, Status, Variation

pytestmark = pytest.mark.django_db


def every_error_kind(kind=wavespeed.WaveSpeedError):
    """Every error class the client can raise, made without tallying it (the constructor counts for /metrics)."""
    found = [kind.__new__(kind)]
    for subclass in kind.__subclasses__():
        found += every_error_kind(subclass)
    return found


class Effects:
    """Stands in for the dispatcher: records what an outcome asked of it."""

    def __init__(self):
        self.paused = 0
        self.refused = []

    def pause_submits(self):
        self.paused += 1

    def refuse_key(self, message, kind):
        self.refused.append(message)


def job_at(source, owner, status, **fields):
    """A job in `status` with `fields` set, as a stage loads it."""
    job = make_job(source, owner, status)
    Variation.objects.filter(pk=job.pk).update(**fields)
    return Variation.objects.select_related("source").get(pk=job.pk)


def fresh(job):
    return Variation.objects.get(pk=job.pk)


# --- the table as data -------------------------------------------------------------------------------


def test_every_outcome_goes_where_transitions_allow_from_its_stage():
    for (stage, answer), outcome in OUTCOMES.items():
        for taken in (outcome, outcome.retry):
            if taken is not None and taken.status is not None:
                assert taken.status in TRANSITIONS[STAGE_STATUS[stage]], (stage, answer)


def test_every_stage_has_its_reactions_and_every_error_one_wherever_it_can_come():
    assert {stage for stage, _ in OUTCOMES} == set(Stage)
    for error in every_error_kind():
        answer = answer_to(error)
        assert (Stage.SUBMIT, answer) in OUTCOMES, type(error).__name__
        if not isinstance(error, wavespeed.AmbiguousSubmit):  # only a submit can be left without an answer
            assert (Stage.UPLOAD, answer) in OUTCOMES, type(error).__name__
            assert (Stage.POLL, answer) in OUTCOMES, type(error).__name__


def test_errors_read_as_the_answers_they_are():
    assert answer_to(wavespeed.Forbidden.__new__(wavespeed.Forbidden)) == Answer.UNAUTHORIZED
    assert answer_to(wavespeed.AmbiguousSubmit.__new__(wavespeed.AmbiguousSubmit)) == Answer.NO_ANSWER
    assert answer_to(wavespeed.BadRequest.__new__(wavespeed.BadRequest)) == Answer.REFUSED


def test_only_answers_that_ask_the_job_to_wait_give_the_submit_attempt_back():
    """A 429, a lack of credit, a key refused to a sibling of the burst already, or (with a budget) a price
    nobody can tell: nothing was made, the job waits."""
    others = {key for key, outcome in OUTCOMES.items() if not outcome.counts_as_attempt}
    waits = {(stage, answer) for stage in (Stage.SUBMIT, Stage.UPLOAD) for answer in (Answer.RATE_LIMITED, Answer.NO_CREDIT)}
    assert others == waits | {(Stage.BUDGET, Answer.PRICE_UNKNOWN), (Stage.SUBMIT, Answer.UNAUTHORIZED_AGAIN)}


def test_only_an_answer_that_created_nothing_at_wavespeed_sends_a_job_again():
    resent = {
        key for key, outcome in OUTCOMES.items()
        if Status.QUEUED in (outcome.status, outcome.retry and outcome.retry.status)
    }
    assert (Stage.SUBMIT, Answer.NO_ANSWER) not in resent  # WaveSpeed's history is asked first
    assert (Stage.RECONCILE, Answer.AMBIGUOUS) not in resent
    # Refunded tasks that certainly ended: 5000/5003/5004, and 1402 (the source's link, uploaded afresh).
    assert {answer for stage, answer in resent if stage is Stage.RESULT} == {Answer.FAILED_RETRYABLE, Answer.MEDIA_UNREADABLE}


# --- apply on rows -----------------------------------------------------------------------------------------


def test_a_429_at_submit_requeues_without_counting_and_backs_off(source, member):
    job = job_at(source, member, Status.SUBMITTING, submit_attempts=1, error="earlier")
    effects = Effects()

    assert apply(job, Stage.SUBMIT, Answer.RATE_LIMITED, effects=effects, message="slow down")

    job = fresh(job)
    assert (job.status, job.submit_attempts, job.submitted_at, job.error) == (Status.QUEUED, 0, None, "earlier")
    assert effects.paused == 1 and not effects.refused


def test_a_5xx_at_submit_sends_again_until_the_last_attempt(source, member):
    effects = Effects()
    again = job_at(source, member, Status.SUBMITTING, submit_attempts=1)
    last = job_at(source, member, Status.SUBMITTING, submit_attempts=MAX_SUBMIT_ATTEMPTS)

    apply(again, Stage.SUBMIT, Answer.SERVER_ERROR, effects=effects, message="WaveSpeed unreachable")
    apply(last, Stage.SUBMIT, Answer.SERVER_ERROR, effects=effects, message="WaveSpeed unreachable")

    again, last = fresh(again), fresh(last)
    assert (again.status, again.submitted_at, again.error) == (Status.QUEUED, None, "Attempt 1: WaveSpeed unreachable")
    assert (last.status, last.error_code) == (Status.FAILED, ErrorCode.BAD_REQUEST)
    assert last.error == f"WaveSpeed refused the job {MAX_SUBMIT_ATTEMPTS} times: WaveSpeed unreachable"
    assert last.completed_at is not None
    assert effects.paused == 2


def test_a_401_fails_the_submit_and_holds_the_key_but_only_delays_a_poll(source, member):
    effects = Effects()
    submitting = job_at(source, member, Status.SUBMITTING, submit_attempts=1)
    polled = job_at(source, member, Status.PROCESSING, prediction_id="p1", poll_count=4)

    apply(submitting, Stage.SUBMIT, Answer.UNAUTHORIZED, effects=effects, message="bad key")
    before = timezone.now()
    apply(polled, Stage.POLL, Answer.UNAUTHORIZED, effects=effects, message="bad key", poll_count=5, poll_gap=1.0)

    submitting, polled = fresh(submitting), fresh(polled)
    assert (submitting.status, submitting.error_code) == (Status.FAILED, ErrorCode.UNAUTHORIZED)
    assert submitting.error == "WaveSpeed refused the job: bad key"
    assert (polled.status, polled.poll_count) == (Status.PROCESSING, 5)
    assert polled.next_poll_at >= before + timedelta(seconds=KEY_RECHECK_SECONDS)
    assert effects.refused == ["bad key", "bad key"]


def test_a_failed_poll_waits_at_least_the_error_pause(source, member):
    job = job_at(source, member, Status.PROCESSING, prediction_id="p1")
    before = timezone.now()

    apply(job, Stage.POLL, Answer.SERVER_ERROR, message="502", poll_count=1, poll_gap=0.3)

    assert fresh(job).next_poll_at >= before + timedelta(seconds=2)


def test_a_write_that_keeps_the_status_changes_nothing_once_the_job_moved_on(source, member):
    job = job_at(source, member, Status.PROCESSING, prediction_id="p1", poll_count=2)
    Variation.objects.filter(pk=job.pk).update(status=Status.CANCELLED)  # cancelled meanwhile

    assert not apply(job, Stage.POLL, Answer.RUNNING, poll_count=3, poll_gap=1.0)

    assert fresh(job).poll_count == 2


def test_running_polls_written_together_touch_only_jobs_still_processing(source, member):
    first = job_at(source, member, Status.PROCESSING, prediction_id="p1", poll_count=2)
    second = job_at(source, member, Status.PROCESSING, prediction_id="p2", poll_count=5)
    cancelled = job_at(source, member, Status.PROCESSING, prediction_id="p3", poll_count=1)
    Variation.objects.filter(pk=cancelled.pk).update(status=Status.CANCELLED)  # cancelled meanwhile
    before = timezone.now()

    written = apply_together(Stage.POLL, Answer.RUNNING, [
        (first, {"poll_count": 3, "poll_gap": 1.0}), (second, {"poll_count": 6, "poll_gap": 4.0}),
        (cancelled, {"poll_count": 2, "poll_gap": 1.0}),
    ])

    assert written == 2
    assert fresh(first).poll_count == 3 and fresh(second).poll_count == 6 and fresh(cancelled).poll_count == 1
    assert before + timedelta(seconds=1) <= fresh(first).next_poll_at < before + timedelta(seconds=4)
    assert fresh(second).next_poll_at >= before + timedelta(seconds=4)
    with pytest.raises(ValueError):  # a change of status is each job's own conditional write (apply)
        apply_together(Stage.RESULT, Answer.COMPLETED, [(first, {"poll_count": 4})])


def test_a_task_taken_after_a_cancel_is_marked_for_deleting(source, member):
    job = job_at(source, member, Status.SUBMITTING, submit_attempts=1)
    Variation.objects.filter(pk=job.pk).update(status=Status.CANCELLED)

    assert not apply(job, Stage.SUBMIT, Answer.ACCEPTED, prediction_id="p9", submitted_at=timezone.now(),
                     via_webhook=False, poll_gap=1.0)
    assert apply(job, Stage.SUBMIT, Answer.ACCEPTED_AFTER_CANCEL, prediction_id="p9")

    job = fresh(job)
    assert (job.status, job.prediction_id, job.delete_pending) == (Status.CANCELLED, "p9", True)


def test_a_retryable_task_failure_sends_the_job_again_then_fails_with_its_code(source, member):
    failed = wavespeed.Prediction(id="p1", status="failed", error="internal error", error_code="5003")
    again = job_at(source, member, Status.PROCESSING, prediction_id="p1", submit_attempts=1)
    last = job_at(source, member, Status.PROCESSING, prediction_id="p2", submit_attempts=MAX_SUBMIT_ATTEMPTS)

    record_result(again, failed, poll_count=3)
    record_result(last, failed)

    again, last = fresh(again), fresh(last)
    assert (again.status, again.prediction_id, again.submitted_at) == (Status.QUEUED, "", None)
    assert (again.error, again.error_code, again.poll_count) == ("Attempt 1: internal error", "", 3)
    assert (last.status, last.error_code, last.error) == (Status.FAILED, "5003", "internal error")
    assert last.finished_at is not None


def test_a_completed_task_goes_to_storing_at_once(source, member):
    done = wavespeed.Prediction(id="p1", status="completed", outputs=["https://x/0.jpg"], has_nsfw_contents=[True],
                                inference_ms=1234)
    job = job_at(source, member, Status.PROCESSING, prediction_id="p1")

    assert record_result(job, done)

    job = fresh(job)
    assert (job.status, job.remote_output_urls, job.remote_nsfw, job.inference_ms) == (
        Status.STORING, ["https://x/0.jpg"], [True], 1234
    )
    assert job.next_poll_at <= timezone.now() and job.finished_at is not None


def test_a_failed_store_backs_off_then_fails_after_the_last_attempt(source, member):
    again = job_at(source, member, Status.STORING, download_attempts=1)
    last = job_at(source, member, Status.STORING, download_attempts=MAX_STORE_ATTEMPTS - 1)
    before = timezone.now()

    apply(again, Stage.STORE, Answer.NOT_STORED, download_attempts=2, message="output 0: 502")
    apply(last, Stage.STORE, Answer.NOT_STORED, download_attempts=MAX_STORE_ATTEMPTS, message="output 0: 502")

    again, last = fresh(again), fresh(last)
    assert (again.status, again.download_attempts) == (Status.STORING, 2)
    assert again.next_poll_at >= before + timedelta(seconds=4)  # 2 ** attempts
    assert (last.status, last.error_code) == (Status.FAILED, ErrorCode.DOWNLOAD)
    assert last.error == f"Outputs could not be stored after {MAX_STORE_ATTEMPTS} attempts: output 0: 502"


def test_a_stage_meets_only_jobs_in_its_status(source, member):
    job = job_at(source, member, Status.QUEUED)
    with pytest.raises(ValueError):
        apply(job, Stage.POLL, Answer.RUNNING, poll_count=1, poll_gap=1.0)


def test_a_local_failure_at_submit_is_sent_again_and_never_counted_as_a_wavespeed_error(source, member):
    """Reading the source failed: not a WaveSpeed 5xx, so /metrics must not count one."""
    job = job_at(source, member, Status.SUBMITTING, submit_attempts=1)
    wavespeed.take_error_tally()  # what earlier tests left in this process
    failed = Future()
    failed.set_exception(OSError("storage unreachable"))
    dispatcher = Dispatcher("test")

    dispatcher.submits.on_sent(job, failed)

    dispatcher.pool.shutdown()
    job = fresh(job)
    assert (job.status, job.error) == (Status.QUEUED, "Attempt 1: storage unreachable")
    assert wavespeed.take_error_tally() == {}
