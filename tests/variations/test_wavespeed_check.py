"""`manage.py wavespeed_check [--run]` and the admin's WaveSpeed page: against the simulator end to end, and
with `responses` for each failure a team meets with a real key."""

import io

import pytest
import responses
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

BASE = "https://api.wavespeed.test"


def check(*args):
    """(works, output) of the command."""
    out = io.StringIO()
    try:
        call_command("wavespeed_check", *args, stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


@pytest.fixture
def on_simulator(settings, simulator):
    settings.WAVESPEED_BASE_URL = simulator.base_url
    settings.WAVESPEED_MAX_PER_MINUTE = 10
    settings.WAVESPEED_MAX_CONCURRENCY = 3
    return simulator


def test_run_sends_one_small_job_end_to_end_against_the_simulator(on_simulator):
    works, output = check("--run")

    assert works, output
    for step in ("balance: $100.00", "price of a default job: $0.025", "upload:", "submit: task", "result: completed", "download: 256x256 JPEG"):
        assert step in output, output
    assert "cost $0.025" in output  # the job's cost, beside its step
    assert " s)" in output  # each step's time
    assert "Bronze 10/min, 3 at once" in output and "configured 10/min, 3 at once" in output
    submitted = on_simulator.stats()["predictions"]
    assert len(submitted) == 1 and next(iter(submitted.values()))["num_images"] == 1


def test_a_bad_key_fails_with_plain_advice(on_simulator):
    on_simulator.config.api_key = "the-real-one"

    works, output = check()

    assert not works
    assert "refused the key (401)" in output and "topped up" in output


def test_an_empty_balance_fails_with_plain_advice(on_simulator):
    on_simulator.config.balance = 0.0

    works, output = check()

    assert not works
    assert "balance is empty" in output


def test_a_low_balance_warns_but_works(settings, on_simulator):
    settings.FLUXSITE_LOW_BALANCE_USD = 5
    on_simulator.config.balance = 2.5

    works, output = check()

    assert works
    assert "$2.50 (below $5.00)" in output and "top up soon" in output


def test_a_webhook_url_wavespeed_cannot_reach_fails(settings, on_simulator):
    settings.FLUXSITE_PUBLIC_URL = "https://localhost:8443"

    works, output = check()

    assert not works
    assert "cannot reach from the internet" in output
    assert "webhook secret: received (whsec_" in output


def test_a_webhook_secret_that_differs_from_wavespeeds_fails(settings, on_simulator):
    settings.FLUXSITE_PUBLIC_URL = "https://93.184.215.14"
    settings.WAVESPEED_WEBHOOK_SECRET = "whsec_something-else"

    works, output = check()

    assert not works and "differs from the secret WaveSpeed gives" in output


def test_without_a_key_it_says_to_set_one(settings):
    settings.WAVESPEED_API_KEY = ""

    works, output = check()

    assert not works and "Set WAVESPEED_API_KEY" in output


@responses.activate
def test_an_account_refused_with_403_says_so():
    responses.get(f"{BASE}/api/v3/balance", status=403, json={"code": 403, "message": "account suspended"})

    works, output = check()

    assert not works and "refused the account (403)" in output


@responses.activate
def test_an_unknown_price_is_a_warning_that_names_the_fallback():
    responses.get(f"{BASE}/api/v3/balance", json={"code": 200, "data": {"balance": 10}})
    responses.post(f"{BASE}/api/v3/model/price", status=404, json={"code": 404, "message": "no"})
    responses.post(f"{BASE}/api/v3/model/pricing", status=404, json={"code": 404, "message": "no"})

    works, output = check()

    assert works
    assert "FLUXSITE_PRICE_PER_IMAGE_USD" in output


@responses.activate
@pytest.mark.parametrize(
    "status,body,advice",
    [
        (402, {"message": "insufficient balance"}, "balance is empty"),
        (429, {"code": 429, "message": "rate limit"}, "Bronze: 10 and 3"),
    ],
)
def test_a_refused_test_job_gives_advice(status, body, advice):
    responses.get(f"{BASE}/api/v3/balance", json={"code": 200, "data": {"balance": 10}})
    responses.post(f"{BASE}/api/v3/model/price", json={"code": 200, "data": {"price": 0.025}})
    responses.post(f"{BASE}/api/v3/media/upload/binary", json={"code": 200, "data": {"download_url": "https://f.test/a.jpg"}})
    responses.post(f"{BASE}/api/v3/wavespeed-ai/flux-redux-dev", status=status, json=body)

    works, output = check("--run")

    assert not works
    assert advice in output


@responses.activate
def test_wavespeed_unreachable_says_so():
    works, output = check()  # `responses` refuses every unregistered request, as a dead network would

    assert not works and "did not answer" in output


# --- the admin's WaveSpeed page -----------------------------------------------------------------------


def test_the_admin_page_shows_the_checks_to_staff_only(client, on_simulator, member, django_user_model):
    client.force_login(member)
    assert client.get("/admin/wavespeed/").status_code == 302  # to the admin's sign-in

    staff = django_user_model.objects.create_user("stella", "", "pw-stella-123", is_staff=True)
    client.force_login(staff)
    page = client.get("/admin/wavespeed/").content.decode()
    assert "The WaveSpeed setup works." in page and "$100.00" in page
    assert on_simulator.stats()["submits"] == 0  # a GET sends no job

    ran = client.post("/admin/wavespeed/").content.decode()
    assert "download" in ran and on_simulator.stats()["submits"] == 1
