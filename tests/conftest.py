"""Shared fixtures: ready users and clients, images made on the spot, private storage per test."""

import io
import uuid

import pytest
from django.contrib.auth import get_user_model
from PIL import Image

from team.models import ApiToken


def make_image(fmt="JPEG", size=(640, 480), color=(200, 80, 40), **save_args):
    """Bytes of a real image with a gradient, so thumbnails and variations have something to show."""
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], max(1, size[0] // 16)):
        image.paste((x % 256, 255 - x % 256, 128), (x, 0, x + 4, size[1]))
    if fmt == "PNG" and "mode" in save_args:
        image = image.convert(save_args.pop("mode"))
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


@pytest.fixture
def image_bytes():
    return make_image


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


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", "alice-password-1")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.com", "bob-password-1")


def make_person(username, role):
    """A user with a team role (team.models.Role): admin, member or viewer."""
    from team.models import set_role

    user = get_user_model().objects.create_user(username, f"{username}@example.com", f"{username}-password-1")
    set_role(user, role)
    return user


@pytest.fixture
def admin(db):
    return make_person("ada", "admin")


@pytest.fixture
def viewer(db):
    return make_person("vic", "viewer")


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Throttle counts and other cached state do not leak from one test into the next: each test gets
    a key prefix of its own (clearing a shared Redis cache would flush its whole database)."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    settings.CACHES = {name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"} for name, config in settings.CACHES.items()}
    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()
    yield


@pytest.fixture
def alice_token(alice):
    return ApiToken.issue(alice, "tests")[1]


@pytest.fixture
def api(client, alice_token):
    """A Django test client that sends alice's API token."""
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {alice_token}"
    return client


# --- WaveSpeed simulator (variations/simulator): a local test double of the API -------------------------------

FAST_SIMULATOR = {"latency": 0.2, "latency_jitter": 0.0, "seed": 1234, "webhook_backoff": 0.05}


@pytest.fixture
def simulator_factory():
    """Start simulators with any SimulatorConfig fields (on top of fast test defaults); all stop after the test."""
    from wavespeed_api.simulator import SimulatorConfig, start_simulator

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


def run_dispatcher_here(seconds=30):
    """Run the dispatcher in the test's own process until its work is done (or `seconds` pass)."""
    from variations import dispatcher
    from variations.models import DispatcherLease

    holder = "test-dispatcher"
    assert DispatcherLease.acquire(holder, 10)
    try:
        dispatcher.Dispatcher(holder).run(seconds)
    finally:
        DispatcherLease.release(holder)


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
    """Start whole stacks (tests/live.py) on a temporary data directory; all processes stop after the test."""
    from tests.live import LiveStack

    stacks = []

    def start(workers=1, simulator=None, **settings):
        simulator = simulator or simulator_factory(per_minute=0)
        stack = LiveStack(tmp_path / f"stack{len(stacks)}", simulator, **settings)
        stacks.append(stack)
        return stack.start(workers=workers)

    yield start
    for stack in stacks:
        stack.stop()
