"""What every studio page shares: a session is required, sign-in and sign-out, unknown ids, the service banner."""

import uuid

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory

from variations.models import ApiKeyRefusal, Status, key_fingerprint
from team.access import _requires

from tests.factories import make_job, make_source

PAGES = ["/", "/jobs/", "/sources/{source}/", "/outputs/{output}/", "/sources/{source}/download.zip", "/jobs/live?ids={job}"]
ACTIONS = [
    "/sources/upload",
    "/sources/{source}/run",
    "/outputs/{output}/vary",
    "/outputs/{output}/star",
    "/jobs/{job}/rerun",
    "/jobs/{job}/cancel",
    "/jobs/{job}/retry",
]


def fill(url, job):
    return url.format(source=job.source_id, output=job.outputs.first().pk, job=job.pk)


@pytest.mark.parametrize("url", PAGES)
def test_pages_send_anonymous_people_to_sign_in(client, completed_job, url):
    response = client.get(fill(url, completed_job))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", ACTIONS)
def test_actions_refuse_anonymous_people_and_change_nothing(client, completed_job, url):
    response = client.post(fill(url, completed_job), {"starred": "1", "seed": "same"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    completed_job.refresh_from_db()
    assert completed_job.reruns.count() == 0
    assert not completed_job.outputs.first().starred
    assert completed_job.source.variations.count() == 1


def test_sign_in_leads_to_the_page_asked_for_and_sign_out_ends_the_session(client, member):
    page = client.get("/accounts/login/?next=/jobs/")
    assert page.status_code == 200
    assert b'name="username"' in page.content and b'name="password"' in page.content

    refused = client.post("/accounts/login/", {"username": "alice", "password": "wrong", "next": "/jobs/"})
    assert refused.status_code == 200
    assert b"Please enter a correct username and password" in refused.content

    signed_in = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1", "next": "/jobs/"})
    assert signed_in["Location"] == "/jobs/"
    assert client.get("/jobs/").status_code == 200

    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/jobs/").status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/sources/{missing}/",
        "/outputs/{missing}/",
        "/sources/{missing}/download.zip",
    ],
)
def test_unknown_ids_get_a_friendly_404(client, member, url):
    client.force_login(member)
    response = client.get(url.format(missing=uuid.uuid4()))
    assert response.status_code == 404
    assert b"Nothing here" in response.content


@pytest.mark.parametrize("url", ["/jobs/{missing}/rerun", "/jobs/{missing}/cancel", "/jobs/{missing}/retry", "/outputs/{missing}/vary"])
def test_actions_on_unknown_ids_answer_404(client, member, url):
    client.force_login(member)
    assert client.post(url.format(missing=uuid.uuid4())).status_code == 404


def test_pages_take_no_get_for_actions(client, member, completed_job):
    client.force_login(member)
    assert client.get(f"/jobs/{completed_job.pk}/rerun").status_code == 405
    assert completed_job.reruns.count() == 0


def test_banner_says_plainly_when_the_app_runs_against_the_simulator(client, member, settings):
    settings.WAVESPEED_SIMULATED = True
    client.force_login(member)
    page = client.get("/").content.decode()
    assert "Simulator mode" in page
    assert "test double" in page


def test_banner_warns_when_no_key_is_set(client, member, settings):
    settings.WAVESPEED_SIMULATED = False
    settings.WAVESPEED_API_KEY = ""
    client.force_login(member)
    assert "No WaveSpeed API key" in client.get("/jobs/").content.decode()


def test_banner_warns_when_wavespeed_refused_the_key_without_showing_it(client, member, settings):
    settings.WAVESPEED_SIMULATED = False
    settings.WAVESPEED_API_KEY = "sk-secret-key-value"
    ApiKeyRefusal.objects.create(fingerprint=key_fingerprint(settings.WAVESPEED_API_KEY), message="Unauthorized")
    client.force_login(member)
    page = client.get("/").content.decode()
    assert "WaveSpeed refused the API key" in page
    assert "sk-secret-key-value" not in page


def test_no_banner_with_a_working_key(client, member, settings):
    settings.WAVESPEED_SIMULATED = False
    settings.WAVESPEED_API_KEY = "sk-working"
    ApiKeyRefusal.objects.create(fingerprint=key_fingerprint("an-old-key"))
    client.force_login(member)
    assert 'class="banner' not in client.get("/").content.decode()


def test_a_refused_permission_answers_403_with_a_page(member):
    request = RequestFactory().get("/")
    request.user = member
    view = _requires(lambda user: False)(lambda request: HttpResponse("secret"))
    response = view(request)
    assert response.status_code == 403
    assert b"You may not do that" in response.content


def test_pages_are_keyboard_reachable_and_images_have_alt_text(client, member):
    source = make_source(member)
    make_job(source, member, outputs=2)
    make_job(source, member, status=Status.FAILED, error="WaveSpeed failed the prediction")
    client.force_login(member)
    for url in ("/", f"/sources/{source.pk}/", "/jobs/"):
        page = client.get(url).content.decode()
        assert 'class="skip-link" href="#main"' in page
        assert page.count("<img") == page.count(' alt="'), f"an image without alt text on {url}"


def test_an_expired_form_gets_a_friendly_page(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/sources/upload", {})
    assert response.status_code == 403
    assert b"This form has expired" in response.content
