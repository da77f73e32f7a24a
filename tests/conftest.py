"""Shared fixtures: one ready person of each role, clients acting as them, a source and a finished job,
private storage and cache per test, and the WaveSpeed simulator (alone or behind whole live stacks)."""

import uuid

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.management import call_command
from django.test import Client, override_settings

from team.models import ApiToken, Role
from tests.factories import make_image, make_job, make_person, make_source
from tests.live import LiveStack
from wavespeed_api.simulator import SimulatorConfig, start_simulator


@pytest.fixture
def image_bytes():
    return make_image


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Static files collected once per run, as `make run` and the Docker image do: hashed names and the
    manifest `{% static %}` reads. Live stacks and other processes the tests start use them too."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root), pytest.MonkeyPatch.context() as patch:
        call_command("collectstatic", "--noinput", verbosity=0)
        patch.setenv("FLUXSITE_STATIC_ROOT", str(root))
        yield root


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Each test writes its media into its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WAVESPEED_API_KEY = "test-key"
    settings.WAVESPEED_BASE_URL = "https://api.wavespeed.test"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests make users all the time; the real hasher spends about 0.3 s on each password."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- people: one of each role (explicit TeamMember rows), and an outsider holding only a link -----------------


@pytest.fixture
def admin(db):
    return make_person("ada", Role.ADMIN)


@pytest.fixture
def member(db):
    return make_person("alice", Role.MEMBER)


@pytest.fixture
def colleague(db):
    """A second member, for what one member may do to another's work."""
    return make_person("bob", Role.MEMBER)


@pytest.fixture
def viewer(db):
    return make_person("vic", Role.VIEWER)


@pytest.fixture
def outsider():
    """A visitor with no account: a fresh anonymous client, holding at most a share link."""
    return Client()


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Throttle counts and other cached state do not leak from one test into the next: each test gets
    a key prefix of its own (clearing a shared Redis cache would flush its whole database)."""
    settings.CACHES = {name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for name, config in settings.CACHES.items()}
    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    yield


@pytest.fixture
def member_token(member):
    return ApiToken.issue(member, "tests")[1]


@pytest.fixture
def signed_in(client, member):
    """The test client, signed in as the member (other people: tests.factories.pages_as)."""
    client.force_login(member)
    return client


@pytest.fixture
def api(client, member_token):
    """The test client sending the member's API token (other people: tests.factories.api_as)."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {member_token}"
    return client


@pytest.fixture
def source(member):
    """A stored source of the member's."""
    return make_source(member)


@pytest.fixture
def completed_job(source, member):
    """The member's finished job on `source`: two stored outputs, the second flagged NSFW."""
    return make_job(source, member, outputs=2, nsfw=(1,))


# --- WaveSpeed simulator (wavespeed_api/simulator): a local test double of the API -------------------------------

FAST_SIMULATOR = {"latency": 0.2, "latency_jitter": 0.0, "seed": 1234, "webhook_backoff": 0.05}


@pytest.fixture
def simulator_factory():
    """Start simulators with any SimulatorConfig fields (on top of fast test defaults); all stop after the test."""
    started = []

    def start(**settings):
        simulator = start_simulator(SimulatorConfig(**{**FAST_SIMULATOR, **settings}), host="127.0.0.1", port=0)
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(simulator_factory):
    """A running simulator: 0.2 s predictions, fixed dice, WaveSpeed's default limits (3 at once, 10 images/min).

    Use `.base_url`, change `.config` attributes at runtime, read `.stats()`.
    """
    return simulator_factory()


@pytest.fixture
def fake_wavespeed(settings, simulator):
    """The app pointed at the simulator: 3 predictions at once, no per-minute limit, and unanswered
    submits settled at once."""
    settings.WAVESPEED_BASE_URL = simulator.base_url
    settings.WAVESPEED_MAX_CONCURRENCY = 3
    settings.WAVESPEED_MAX_PER_MINUTE = 0
    settings.FLUXSITE_SUBMIT_SETTLE_SECONDS = 0
    simulator.config.per_minute = 0
    return simulator


# --- A live stack: web server + qcluster as real processes against a simulator ------------------------------


@pytest.fixture
def live_stack_factory(tmp_path, simulator_factory):
    """Start whole stacks (tests/live.py) on a temporary data directory, with webhooks or without; all processes
    stop after the test."""
    stacks = []

    def start(workers=1, simulator=None, webhooks=False, **settings):
        simulator = simulator or simulator_factory(per_minute=0)
        stack = LiveStack(tmp_path / f"stack{len(stacks)}", simulator, **settings)
        if webhooks:  # the simulator delivers to the stack's own web server
            stack.env.update(FLUXSITE_PUBLIC_URL=stack.base_url, FLUXSITE_WEBHOOK_ALLOW_HTTP="1")
        stacks.append(stack)
        return stack.start(workers=workers)

    yield start
    for stack in stacks:
        stack.stop()
