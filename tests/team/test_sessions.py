"""The person's own security controls: sign out everywhere, and when each API token was last used."""

import pytest
from django.test import Client

from team.models import ApiToken

pytestmark = pytest.mark.django_db


def signed_in_with_password(person):
    client = Client()
    assert client.post("/accounts/login/", {"username": person.get_username(), "password": f"{person.get_username()}-password-1"}).status_code == 302
    return client


def is_signed_in(client):
    return client.get("/account/tokens/").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_person_only(member, colleague):
    laptop, phone, other = signed_in_with_password(member), signed_in_with_password(member), signed_in_with_password(colleague)

    answer = laptop.post("/account/sign-out-everywhere", {"password": "alice-password-1"})

    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert is_signed_in(other)
    assert is_signed_in(signed_in_with_password(member)), "the password itself still works"


def test_a_wrong_password_signs_nobody_out_and_counts_as_a_failed_sign_in(member):
    laptop, phone = signed_in_with_password(member), signed_in_with_password(member)

    for n in range(5):
        laptop.post("/account/sign-out-everywhere", {"password": f"wrong-{n}"})

    assert is_signed_in(laptop) and is_signed_in(phone)
    locked = laptop.post("/account/sign-out-everywhere", {"password": "alice-password-1"})
    assert is_signed_in(phone), "a stolen session cannot guess its way to signing the owner out"
    assert locked.status_code == 302


def test_api_tokens_still_work_after_signing_out_everywhere(member):
    _, token = ApiToken.issue(member, "script")
    signed_in_with_password(member).post("/account/sign-out-everywhere", {"password": "alice-password-1"})

    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/variations").status_code == 200


def test_the_tokens_page_shows_when_each_token_was_last_used(member, signed_in):
    used, token = ApiToken.issue(member, "used one")
    ApiToken.issue(member, "idle one")
    Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/variations")
    used.refresh_from_db()

    page = signed_in.get("/account/tokens/").content.decode()

    assert used.last_used_at is not None
    assert f'datetime="{used.last_used_at:%Y-%m-%dT%H:%M:%S}' in page
    assert page.count(">never<") == 1
