"""The job history (/jobs/), live updates of running jobs, and the re-run, cancel and retry controls."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from variations.models import Status, Variation

from tests.factories import make_job, make_source


def listed(response):
    return list(response.context["page"].object_list)


def test_history_lists_every_job_newest_first_with_timings_and_errors(signed_in, member, colleague, source):
    done = make_job(source, member, outputs=2, created_at=timezone.now() - timedelta(hours=2))
    failed = make_job(make_source(colleague), colleague, status=Status.FAILED, error="WaveSpeed refused the parameters")
    response = signed_in.get("/jobs/")
    assert listed(response) == [failed, done]
    html = response.content.decode()
    assert "WaveSpeed refused the parameters" in html
    assert "Queued</dt><dd>1.0 s" in html and "Inference</dt><dd>2.5 s" in html and "Total</dt><dd>4.0 s" in html
    assert f"/media/sources/{done.source_id}/thumbnail" in html
    assert "bob" in html and "alice" in html


def test_history_filters_by_public_status(signed_in, member, source):
    queued = make_job(source, member, status=Status.QUEUED)
    storing = make_job(source, member, status=Status.STORING)
    submitting = make_job(source, member, status=Status.SUBMITTING)
    make_job(source, member, status=Status.COMPLETED)
    assert set(listed(signed_in.get("/jobs/?status=queued"))) == {queued, submitting}
    assert listed(signed_in.get("/jobs/?status=processing")) == [storing]
    assert listed(signed_in.get("/jobs/?status=cancelled")) == []


def test_history_filters_by_person(signed_in, member, colleague, source):
    mine = make_job(source, member)
    make_job(source, colleague)
    assert listed(signed_in.get("/jobs/?person=alice")) == [mine]


def test_history_filters_by_date(signed_in, member, source):
    today = timezone.now()
    old = make_job(source, member, created_at=today - timedelta(days=10))
    recent = make_job(source, member, created_at=today - timedelta(days=1))
    day = lambda moment: moment.date().isoformat()  # noqa: E731
    assert listed(signed_in.get(f"/jobs/?date_from={day(today - timedelta(days=2))}")) == [recent]
    assert listed(signed_in.get(f"/jobs/?date_to={day(today - timedelta(days=5))}")) == [old]
    both = f"/jobs/?date_from={day(old.created_at)}&date_to={day(recent.created_at)}"
    assert listed(signed_in.get(both)) == [recent, old]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("status=lost", "status", "Select a valid choice"),
        ("person=nobody", "person", "Select a valid choice"),
        ("date_from=yesterday", "date_from", "Enter a valid date"),
        ("date_from=2025-05-10&date_to=2025-05-01", "date_to", "before the start date"),
    ],
)
def test_bad_filters_are_a_400_with_the_message_next_to_the_field(signed_in, member, source, query, field, message):
    make_job(source, member)
    response = signed_in.get(f"/jobs/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}-error"' in html
    error_at = html.index(f'id="id_{field}-error"')
    assert message in html[error_at : error_at + 400]
    assert html.index(f'name="{field}"') < error_at


def test_history_query_count_does_not_grow_with_jobs(signed_in, member, colleague, source, django_assert_max_num_queries):
    make_job(source, member)
    with django_assert_max_num_queries(12) as few:
        signed_in.get("/jobs/")
    for n in range(12):
        make_job(make_source(colleague), colleague if n % 2 else member, outputs=3, status=Status.COMPLETED if n % 3 else Status.FAILED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        signed_in.get("/jobs/")


def test_history_pages_keep_the_filters(signed_in, member, source):
    for _ in range(27):
        make_job(source, member, status=Status.FAILED)
    html = signed_in.get("/jobs/?status=failed").content.decode()
    assert "?status=failed&amp;page=2" in html
    assert len(listed(signed_in.get("/jobs/?status=failed&page=2"))) == 2


# --- live updates -------------------------------------------------------------------------------


def test_live_answers_each_jobs_status_and_fresh_html(signed_in, member, source):
    running = make_job(source, member, status=Status.PROCESSING)
    done = make_job(source, member, outputs=2)
    response = signed_in.get(f"/jobs/live?ids={running.pk},{done.pk}&view=card")
    jobs = {job["id"]: job for job in response.json()["jobs"]}
    assert jobs[str(running.pk)]["status"] == "processing" and jobs[str(running.pk)]["active"] is True
    assert jobs[str(done.pk)]["status"] == "completed" and jobs[str(done.pk)]["active"] is False
    assert jobs[str(done.pk)]["html"].count('class="tile shape-') == 2
    assert '<article class="job card"' in jobs[str(done.pk)]["html"]


def test_live_rows_bring_their_controls_back_to_the_page_they_are_on(signed_in, member, source):
    job = make_job(source, member, status=Status.QUEUED)
    html = signed_in.get(f"/jobs/live?ids={job.pk}&view=row&next=/jobs/%3Fstatus%3Dqueued").json()["jobs"][0]["html"]
    assert "<li class=\"job-row card\"" in html
    assert 'name="next" value="/jobs/?status=queued"' in html
    outside = signed_in.get(f"/jobs/live?ids={job.pk}&view=row&next=https://evil.example/").json()["jobs"][0]["html"]
    assert "evil.example" not in outside


@pytest.mark.parametrize("query", ["ids=not-a-uuid", "ids={job}&view=table", "ids=" + ",".join(str(uuid.uuid4()) for _ in range(101))])
def test_live_refuses_bad_requests_clearly(signed_in, member, source, query):
    job = make_job(source, member)
    response = signed_in.get("/jobs/live?" + query.format(job=job.pk))
    assert response.status_code == 400
    assert response.json()["error"]


def test_live_query_count_does_not_grow_with_jobs(signed_in, member, source, django_assert_max_num_queries):
    ids = [str(make_job(source, member, status=Status.PROCESSING).pk)]
    with django_assert_max_num_queries(6) as few:
        signed_in.get(f"/jobs/live?ids={','.join(ids)}")
    ids += [str(make_job(source, member, outputs=4).pk) for _ in range(10)]
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(signed_in.get(f"/jobs/live?ids={','.join(ids)}").json()["jobs"]) == 11


# --- re-run, cancel, retry ---------------------------------------------------------------------


def test_again_runs_the_same_parameters_with_a_new_seed(signed_in, member, source):
    job = make_job(source, member, seed=5, guidance_scale=7.5, size="768*512")
    response = signed_in.post(f"/jobs/{job.pk}/rerun")
    again = Variation.objects.get(rerun_of=job)
    assert response["Location"] == f"/sources/{source.pk}/#job-{again.pk}"
    assert (again.guidance_scale, again.size, again.status) == (7.5, "768*512", Status.QUEUED)
    assert again.seed != 5


def test_same_seed_reproduces_the_job_exactly(signed_in, member, source):
    job = make_job(source, member, seed=123456, num_images=1, output_format="png")
    signed_in.post(f"/jobs/{job.pk}/rerun", {"seed": "same"})
    again = Variation.objects.get(rerun_of=job)
    assert again.params() == job.params()


def test_rerun_from_the_history_comes_back_to_the_history(signed_in, member, source):
    job = make_job(source, member)
    response = signed_in.post(f"/jobs/{job.pk}/rerun", {"next": "/jobs/?person=alice"})
    assert response["Location"] == "/jobs/?person=alice"
    outside = signed_in.post(f"/jobs/{job.pk}/rerun", {"next": "//evil.example/"})
    assert outside["Location"].startswith(f"/sources/{source.pk}/")


def test_cancel_a_queued_job(signed_in, member, source):
    job = make_job(source, member, status=Status.QUEUED)
    response = signed_in.post(f"/jobs/{job.pk}/cancel", {"next": "/jobs/"}, follow=True)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
    assert "Job cancelled." in response.content.decode()


def test_a_running_job_at_wavespeed_is_cancelled_there_too(signed_in, member, source):
    job = make_job(source, member, status=Status.PROCESSING)
    Variation.objects.filter(pk=job.pk).update(prediction_id="pred-1")
    signed_in.post(f"/jobs/{job.pk}/cancel")
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.delete_pending


def test_a_finished_job_cannot_be_cancelled_and_says_so(signed_in, member, source):
    job = make_job(source, member)
    response = signed_in.post(f"/jobs/{job.pk}/cancel", follow=True)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED
    assert "can no longer be cancelled" in response.content.decode()


def test_retry_a_failed_job_with_exactly_its_parameters(signed_in, member, source):
    failed = make_job(source, member, status=Status.FAILED, seed=77, error="boom")
    response = signed_in.post(f"/jobs/{failed.pk}/retry", {"next": "/jobs/"})
    retried = Variation.objects.get(rerun_of=failed)
    assert response["Location"] == "/jobs/"
    assert retried.params() == failed.params() and retried.status == Status.QUEUED


def test_a_completed_job_is_not_retried(signed_in, member, source):
    job = make_job(source, member)
    response = signed_in.post(f"/jobs/{job.pk}/retry", follow=True)
    assert not Variation.objects.filter(rerun_of=job).exists()
    assert "Only failed or cancelled jobs can be retried" in response.content.decode()


def test_controls_match_the_jobs_state(signed_in, member, source):
    make_job(source, member, status=Status.PROCESSING)
    make_job(source, member, status=Status.FAILED)
    html = signed_in.get("/jobs/").content.decode()
    assert html.count("Cancel</button>") == 1
    assert html.count("Retry</button>") == 1
    assert html.count("Same seed</button>") == 1  # only finished jobs are re-run
