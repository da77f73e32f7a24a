"""A source's WaveSpeed upload link (issue 13, problem 9): trusted only within WaveSpeed's own lifetime and
for the base URL and key it was uploaded with; a link WaveSpeed cannot fetch (1402) is re-uploaded."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db

LINK = "https://files.wavespeed.test/media/abc/source.jpg"


def test_a_remembered_upload_is_used_while_wavespeed_keeps_it(source):
    source.remember_upload(LINK)
    source.refresh_from_db()

    assert source.valid_wavespeed_url() == LINK


def test_an_upload_is_not_trusted_past_wavespeeds_lifetime(source):
    source.remember_upload(LINK)
    source.wavespeed_uploaded_at = timezone.now() - timedelta(days=6, minutes=1)

    assert source.valid_wavespeed_url() == ""


@pytest.mark.parametrize("setting,value", [("WAVESPEED_API_KEY", "another-account"), ("WAVESPEED_BASE_URL", "http://127.0.0.1:8765")])
def test_an_upload_is_not_trusted_across_a_change_of_key_or_base_url(settings, source, setting, value):
    source.remember_upload(LINK)
    setattr(settings, setting, value)

    assert source.valid_wavespeed_url() == ""


def test_a_link_wavespeed_could_not_fetch_is_forgotten_but_a_newer_one_kept(source):
    source.remember_upload(LINK)
    sent_at = timezone.now()
    source.forget_upload(sent_at)
    source.refresh_from_db()
    assert source.valid_wavespeed_url() == ""

    source.remember_upload(LINK + "?new")
    source.forget_upload(sent_at)  # a late 1402 from a job sent before the new upload
    source.refresh_from_db()
    assert source.valid_wavespeed_url() == LINK + "?new"


def test_a_job_whose_source_link_wavespeed_cannot_fetch_is_sent_again_with_a_fresh_upload(fake_wavespeed, source, member):
    """Issue 13, problem 9: after a restart of the simulator (or an upload WaveSpeed lost) every job on an
    old source failed with 1402; now the link is forgotten and the job goes again once, uploaded afresh."""
    from tests.factories import run_dispatcher_here
    from variations.models import Status
    from variations.params import VariationParams
    from variations.services import jobs as job_services

    stale = f"{fake_wavespeed.base_url}/media/gone/source.jpg"  # the simulator does not have it (any more)
    source.remember_upload(stale)
    job = job_services.create_variation(source, VariationParams(), member)

    run_dispatcher_here()

    job.refresh_from_db()
    source.refresh_from_db()
    stats = fake_wavespeed.stats()
    assert job.status == Status.COMPLETED, job.error
    assert job.submit_attempts == 2 and stats["submits"] == 2 and stats["uploads"] == 1
    assert source.valid_wavespeed_url() not in ("", stale)


def test_a_second_1402_fails_the_job(fake_wavespeed, source, member):
    from tests.factories import run_dispatcher_here
    from variations.models import Status
    from variations.params import VariationParams
    from variations.services import jobs as job_services

    fake_wavespeed.config.fail_rate, fake_wavespeed.config.fail_codes = 1.0, [1402]
    job = job_services.create_variation(source, VariationParams(), member)

    run_dispatcher_here()

    job.refresh_from_db()
    assert (job.status, job.error_code, job.submit_attempts) == (Status.FAILED, "1402", 2)
    assert fake_wavespeed.stats()["uploads"] == 2
