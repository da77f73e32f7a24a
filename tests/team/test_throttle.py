"""The throttle on guessing: every way to sign in counts (the admin site's too), the count is the
same in every web process, and the address counted is the visitor's even behind a trusted proxy."""

import ipaddress
import re

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from team import throttle

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"


def sign_in(client, username, password, path="/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-password-1")


def test_wrong_passwords_on_the_admin_site_lock_the_account_as_the_sign_in_page_does(superuser):
    client = Client()
    for n in range(30):
        sign_in(client, "root", f"wrong-{n}", "/admin/login/")

    right = sign_in(client, "root", "root-password-1", "/admin/login/")

    assert right.status_code == 200 and "_auth_user_id" not in client.session, "signed in after 30 wrong passwords"
    assert sign_in(client, "root", "root-password-1").status_code == 429  # the sign-in page agrees: one count
    assert sign_in(Client(REMOTE_ADDR="10.9.8.7"), "root", "root-password-1", "/admin/login/").status_code == 302


def test_failures_on_either_sign_in_page_add_up(admin):
    client = Client()
    for n in range(3):
        sign_in(client, "ada", f"wrong-{n}", "/admin/login/")
    codes = [sign_in(client, "ADA", f"wrong-{n}").status_code for n in range(3)]

    assert codes == [200, 429, 429]


def test_a_locked_out_sign_in_page_answers_get_and_post_without_error(admin):
    client = Client()
    for n in range(5):
        sign_in(client, "ada", f"wrong-{n}")

    locked = sign_in(client, "ada", "ada-password-1")

    assert locked.status_code == 429 and b"Too many failed sign-ins" in locked.content
    assert b"Please enter a correct username" not in locked.content
    assert client.get("/accounts/login/").status_code == 200


def test_a_sign_in_elsewhere_does_not_reset_or_bypass_the_count(admin):
    for n in range(5):
        sign_in(Client(), "ada", f"wrong-{n}")

    assert throttle.LOGIN.blocked("ada", "127.0.0.1")
    assert not throttle.LOGIN.blocked("ada", "10.9.8.7")


def test_the_count_runs_out():
    window = throttle.Throttle("test", limit=2, seconds=0)
    assert not window.failed("x")
    assert not window.failed("x"), "a window of 0 s keeps nothing: each failure starts afresh"
    assert not window.blocked("x")


# --- two web processes, one count ----------------------------------------------------------------------------


def login_attempt(session, base_url, password):
    page = session.get(base_url + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = session.post(
        base_url + "/accounts/login/", timeout=10, allow_redirects=False,
        data={"csrfmiddlewaretoken": token, "username": "alice", "password": password},
        headers={"Referer": base_url + "/accounts/login/"},
    )
    return answer.status_code


@pytest.mark.integration
def test_the_sign_in_limit_holds_across_two_web_processes(live_stack_factory):
    stack = live_stack_factory(workers=0)
    second = stack.start_web()
    servers = [requests.Session(), requests.Session()]
    bases = [stack.base_url, second]

    codes = [login_attempt(servers[n % 2], bases[n % 2], f"wrong-{n}") for n in range(8)]

    assert codes[:4] == [200] * 4 and codes[4:] == [429] * 4, codes
    assert login_attempt(servers[1], bases[1], "pw-alice-1234") == 429


# --- the client's address behind a proxy -------------------------------------------------------------------------


def request_from(remote, forwarded=None):
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return RequestFactory().get("/", REMOTE_ADDR=remote, **extra)


def test_without_trusted_proxies_the_forwarded_header_counts_for_nothing(settings):
    settings.FLUXSITE_TRUSTED_PROXIES = []

    assert throttle.client_address(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_visitor_is_the_address_the_proxy_saw(settings):
    settings.FLUXSITE_TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/24")]

    assert throttle.client_address(request_from(PROXY, "198.51.100.1")) == "198.51.100.1"
    # Whatever the visitor wrote into the header is to the left of what the proxy appended.
    assert throttle.client_address(request_from(PROXY, "1.2.3.4, 198.51.100.1")) == "198.51.100.1"
    # Chained trusted proxies are skipped; a request straight from the proxy is the proxy's own.
    assert throttle.client_address(request_from(PROXY, "198.51.100.1, 10.0.0.7")) == "198.51.100.1"
    assert throttle.client_address(request_from(PROXY)) == PROXY
    # The header from anyone but a trusted proxy is ignored.
    assert throttle.client_address(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_behind_the_proxy_one_visitors_typos_do_not_lock_out_the_others(settings, member):
    settings.FLUXSITE_TRUSTED_PROXIES = [ipaddress.ip_network(PROXY)]
    typist = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1")
    for n in range(5):
        sign_in(typist, "alice", f"wrong-{n}")

    assert sign_in(typist, "alice", "alice-password-1").status_code == 429
    other = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert sign_in(other, "alice", "alice-password-1").status_code == 302
    # ...and the typist cannot escape the lock by writing another address into the header.
    spoofing = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.1")
    assert sign_in(spoofing, "alice", "alice-password-1").status_code == 429


def test_the_metrics_allow_list_sees_the_visitor_behind_a_trusted_proxy(client, settings):
    settings.FLUXSITE_METRICS_TOKEN = ""
    settings.FLUXSITE_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    settings.FLUXSITE_TRUSTED_PROXIES = [ipaddress.ip_network(PROXY)]

    assert client.get("/metrics", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.20.30.40").status_code == 200
    # Not from the proxy: a forged header does not open the allow-list.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.20.30.40").status_code == 403
