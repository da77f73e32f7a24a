"""Security across the whole app: every private URL refuses anonymous people (enumerated from the URL
configuration, so new pages are covered without editing this file), CSRF on every form, sign-in
throttling, and tokens and passwords kept out of logs and pages."""

import logging
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from sharing.models import Board
from team.models import ApiToken
from sharing.models import Pick, PickVisitor, ShareOptions, create_link
from team.models import Invitation

from tests.factories import make_job, make_source, pages_as

# Reachable without an account on purpose: signing in and out, the first-run setup (only while there is no
# user), invitations and share links (each checks its own token), WaveSpeed's webhook (checks its signature)
# the API's schema and docs page, and its bare root (a 404 that serves nothing).
PUBLIC = {
    "login", "logout", "setup", "accept-invitation", "wavespeed-webhook",
    "shared", "shared-download", "shared-source", "shared-source-thumbnail", "shared-output", "shared-output-thumbnail",
    "shared-source-preview", "shared-output-preview", "shared-picks", "shared-picks-confirm",
    "api:openapi-json", "api:openapi-view", "api:api-root",
}


def url_patterns(patterns=None, prefix="", namespace=""):
    """(name, route) of every URL pattern of the site but the Django admin (it has its own sign-in)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}", route


@pytest.fixture
def world(member, colleague):
    job = make_job(make_source(member), member, outputs=1)
    board = Board.objects.create(name="Picks", created_by=member)
    link, token = create_link(job.source, ShareOptions(allow_download=True), member)
    visitor = PickVisitor.objects.create(link=link, key_digest="0" * 64, name="Carla")
    pick = Pick.objects.create(visitor=visitor, output=job.outputs.get(), picked=True)
    return {
        "source_id": job.source_id, "output_id": job.outputs.get().pk, "job_id": job.pk, "board_id": board.pk,
        "share_id": link.pk, "token_id": ApiToken.issue(member, "t")[0].pk, "user_id": colleague.pk,
        "invitation_id": Invitation.issue(member, "member")[0].pk, "token": token,
        "pick_id": pick.pk, "visitor_id": visitor.pk,
    }


def concrete(route, ids):
    """A route with every <converter:name> filled with the id of a real object."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m.group(1)]), route.replace("^", "").replace("$", ""))


def private_urls(ids):
    found = [(name, concrete(route, ids)) for name, route in url_patterns() if name not in PUBLIC]
    assert len(found) > 40, "the URL configuration was not read"
    return found


def test_the_public_list_names_only_urls_that_exist():
    assert PUBLIC <= {name for name, _ in url_patterns()}


def test_every_private_url_refuses_anonymous_people(world):
    for name, url in private_urls(world):
        for method in ("get", "post"):
            response = getattr(Client(), method)(url)
            refused = response.status_code in (401, 403, 405) or (
                # The admin site's own pages send people to its own sign-in (staff only).
                response.status_code == 302 and response["Location"].startswith(("/accounts/login/", "/admin/login/"))
            )
            assert refused, f"{method.upper()} {url} ({name}) answered {response.status_code} to an anonymous request"


def test_every_private_url_refuses_a_share_token_or_a_wrong_bearer_token(world):
    for name, url in private_urls(world):
        for token in (world["token"], "fxs_not-a-real-token"):
            response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get(url)
            assert response.status_code in (302, 401, 405), f"GET {url} ({name}) with a non-API token: {response.status_code}"


def test_the_admin_site_needs_a_staff_sign_in(world, member):
    assert Client().get("/admin/").status_code == 302
    session = pages_as(member)
    assert session.get("/admin/variations/sharelink/").status_code == 302


# --- CSRF --------------------------------------------------------------------------------------------------

def test_every_post_without_a_csrf_token_is_refused(world, admin):
    for name, url in url_patterns():
        if name.startswith("api:") or name == "wavespeed-webhook":
            continue  # the API checks CSRF itself for sessions (below); the webhook is signed, not a form
        client = Client(enforce_csrf_checks=True)
        client.force_login(admin)
        response = client.post(concrete(url, world), {"name": "x", "role": "viewer", "password": "x"})
        csrf_failure = b"CSRF" in response.content or "403_csrf.html" in [t.name for t in response.templates]
        assert response.status_code == 403 and csrf_failure, f"POST {url} ({name}): {response.status_code}"


def test_api_calls_with_a_session_need_the_csrf_token(world, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post("/api/v1/shares", {"source": str(world["source_id"])}, content_type="application/json").status_code == 403
    assert client.delete(f"/api/v1/shares/{world['share_id']}").status_code == 403


def test_every_form_on_the_pages_carries_a_csrf_token(world, admin):
    client = pages_as(admin)
    pages = ["/", "/jobs/", "/boards/", f"/boards/{world['board_id']}/", "/shares/", f"/shares/{world['share_id']}/",
             f"/shares/new?source={world['source_id']}", "/people/", "/account/tokens/", f"/sources/{world['source_id']}/",
             f"/outputs/{world['output_id']}/", f"/boards/pick?source={world['source_id']}"]
    forms_seen = 0
    for url in pages:
        html = client.get(url).content.decode()
        for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", html, flags=re.S | re.I):
            forms_seen += 1
            assert "csrfmiddlewaretoken" in form, f"a form on {url} has no CSRF token: {form[:200]}"
    assert forms_seen > 20


# --- sign-in throttling ------------------------------------------------------------------------------------

def test_sign_in_is_throttled_per_username_and_address(member):
    client = Client()
    codes = [client.post("/accounts/login/", {"username": "alice", "password": f"wrong-{n}"}).status_code for n in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    locked = client.post("/accounts/login/", {"username": "ALICE ", "password": "alice-password-1"})
    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert elsewhere.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}).status_code == 302


def test_a_successful_sign_in_clears_the_failures(member):
    client = Client()
    for n in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": f"wrong-{n}"})
    assert client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}).status_code == 302
    client.logout()
    for n in range(4):
        assert client.post("/accounts/login/", {"username": "alice", "password": f"wrong-{n}"}).status_code == 200


# --- secrets stay out of logs and pages --------------------------------------------------------------------

def test_tokens_and_passwords_never_reach_the_logs(caplog, member, admin, settings):
    caplog.set_level(logging.DEBUG)
    source = make_source(member)
    session = pages_as(member)
    secrets_seen = ["blue-whale-42", "alice-password-1", "wrong-password-9"]

    session.post("/shares/new", {"source": source.pk, "expires": "7", "password": "blue-whale-42"})
    share_token = caplog_free_token(member, source)
    secrets_seen.append(share_token)
    Client().post(f"/s/{share_token}/", {"password": "wrong-password-9"})
    api_token = session.post("/account/tokens/", {"name": "script"}).context["new_token"]
    secrets_seen.append(api_token)
    Client(HTTP_AUTHORIZATION=f"Bearer {api_token}").post("/api/v1/shares", {"source": str(source.pk)}, content_type="application/json")
    people = pages_as(admin)
    invite_link = people.post("/people/invite", {"role": "member", "days": 3}).context["new_invitation"]["link"]
    invite_token = invite_link.rstrip("/").rsplit("/", 1)[1]
    secrets_seen.append(invite_token)
    Client().post(f"/invite/{invite_token}/", {"username": "new", "password1": "x", "password2": "y"})
    Client().post("/accounts/login/", {"username": "alice", "password": "wrong-password-9"})
    Client().post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    from sharing.models import ShareLink

    ShareLink.objects.update(revoked_at="2020-01-01T00:00:00Z")
    Client().get(f"/s/{share_token}/")  # 410: Django warns "Gone: <path>"
    Client().get(f"/s/{share_token}/media/sources/{source.pk}")
    Client().post(f"/invite/{invite_token}/", {"username": "new"})
    # The request lines of runserver and gunicorn name the path too.
    logging.getLogger("django.server").info('"%s" %s %s', f"GET /s/{share_token}/ HTTP/1.1", 200, 10)
    logging.getLogger("gunicorn.access").info('%(r)s %(s)s', {"r": f"GET /invite/{invite_token}/ HTTP/1.1", "s": "200"})

    text = caplog.text
    assert "Gone: /s/[redacted]/" in text and "GET /invite/[redacted]/" in text
    for secret in secrets_seen:
        assert secret not in text, f"a secret reached the logs: {secret[:6]}…"


def caplog_free_token(user, source):
    from sharing.models import ShareLink

    return ShareLink.objects.filter(created_by=user, source=source).latest("created_at").token()


def test_api_tokens_invitations_and_passwords_are_not_shown_after_creation(member, admin):
    session = pages_as(member)
    created = session.post("/account/tokens/", {"name": "laptop"})
    token = created.context["new_token"]
    assert token in created.content.decode() and created["Cache-Control"].startswith("max-age=0")
    page = session.get("/account/tokens/").content.decode()
    assert token not in page and "laptop" in page and token[:8] in page

    source = make_source(member)
    session.post("/shares/new", {"source": source.pk, "expires": "7", "password": "blue-whale-42"})
    for url in ("/shares/", f"/shares/{caplog_free_token_id(member)}/"):
        assert "blue-whale-42" not in session.get(url).content.decode()
    refused = session.post("/shares/new", {"source": source.pk, "expires": "7", "password": "abc"})
    assert 'value="abc"' not in refused.content.decode()

    people = pages_as(admin)
    link = people.post("/people/invite", {"role": "member", "days": 3}).context["new_invitation"]["link"]
    assert link.rstrip("/").rsplit("/", 1)[1] not in people.get("/people/").content.decode()


def caplog_free_token_id(user):
    from sharing.models import ShareLink

    return ShareLink.objects.filter(created_by=user).latest("created_at").pk
