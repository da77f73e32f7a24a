"""The API tokens page: create (shown once), name, list with prefix and last use, revoke."""

import pytest
from django.test import Client

from team.models import ApiToken
from tests.factories import make_person, pages_as


def test_a_new_token_is_shown_once_works_and_is_listed_by_prefix(member):
    client = pages_as(member)
    created = client.post("/account/tokens/", {"name": "laptop script"})
    token = created.context["new_token"]
    assert created.status_code == 200 and token.startswith("fxs_") and token in created.content.decode()
    row = ApiToken.objects.get(user=member)
    assert row.name == "laptop script" and row.digest != token and token not in row.digest
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/variations").status_code == 200
    page = client.get("/account/tokens/").content.decode()
    assert token not in page and "laptop script" in page and row.prefix in page
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_token_needs_a_name(member):
    response = pages_as(member).post("/account/tokens/", {"name": ""})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_revoking_stops_the_token_at_once(member):
    row, token = ApiToken.issue(member, "ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/variations").status_code == 200
    assert pages_as(member).post(f"/account/tokens/{row.pk}/revoke").status_code == 302
    assert api.get("/api/v1/variations").status_code == 401


def test_people_see_and_revoke_only_their_own_tokens(member, colleague):
    row, _ = ApiToken.issue(member, "alice's secret script")
    client = pages_as(colleague)
    assert "alice's secret script" not in client.get("/account/tokens/").content.decode()
    assert client.post(f"/account/tokens/{row.pk}/revoke").status_code == 404
    assert ApiToken.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_every_role_may_have_tokens_that_do_what_the_role_allows(role, db):
    person = make_person(f"p-{role}", role)
    client = pages_as(person)
    token = client.post("/account/tokens/", {"name": "t"}).context["new_token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/variations").status_code == 200
    expected = 403 if role == "viewer" else 404
    assert api.post("/api/v1/variations/00000000-0000-0000-0000-000000000000/cancel").status_code == expected
