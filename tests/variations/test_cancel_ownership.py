"""Cancelling follows deleting's rule: members cancel their own jobs, admins anyone's (API and pages)."""

import pytest

from tests.factories import api_as, make_job, pages_as
from variations.models import Status, Variation

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(source, member):
    return make_job(source, member, status=Status.QUEUED)


def status_of(job):
    return Variation.objects.get(pk=job.pk).status


def test_a_member_cannot_cancel_a_colleagues_job_through_the_api(queued, colleague):
    answer = api_as(colleague).post(f"/api/v1/variations/{queued.pk}/cancel")

    assert answer.status_code == 403 and "another person" in answer.json()["detail"]
    assert status_of(queued) == Status.QUEUED


def test_a_member_cannot_cancel_a_colleagues_job_on_the_pages(queued, colleague):
    assert pages_as(colleague).post(f"/jobs/{queued.pk}/cancel").status_code == 403
    assert status_of(queued) == Status.QUEUED
    gallery = pages_as(colleague).get(f"/sources/{queued.source_id}/").content.decode()
    assert f"/jobs/{queued.pk}/cancel" not in gallery


@pytest.mark.parametrize("who", ["member", "admin"])
def test_the_owner_and_admins_cancel(queued, request, who):
    person = request.getfixturevalue(who)
    assert f"/jobs/{queued.pk}/cancel" in pages_as(person).get(f"/sources/{queued.source_id}/").content.decode()

    assert api_as(person).post(f"/api/v1/variations/{queued.pk}/cancel").status_code == 200
    assert status_of(queued) == Status.CANCELLED
