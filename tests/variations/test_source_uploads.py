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
    source.forget_upload(LINK)
    source.refresh_from_db()
    assert source.valid_wavespeed_url() == ""

    source.remember_upload(LINK + "?new")
    source.forget_upload(LINK)  # a late 1402 about the old link
    source.refresh_from_db()
    assert source.valid_wavespeed_url() == LINK + "?new"
