"""What the browser tests share: Debian's Chromium under Playwright, a live studio (runserver + qcluster on
a fresh data directory, against an in-process WaveSpeed simulator), a signed-in page, screenshots, and
images worth looking at. Importing it skips the importing test module, loudly, where Chromium is missing.

Set FLUXSITE_SCREENSHOTS=<folder> to keep screenshots of the main pages there (docs/screenshots/ holds
the ones shown in the README).
"""

import io
import os
import random
import sys
import warnings
from pathlib import Path

import pytest

from PIL import Image, ImageDraw
from wavespeed_api.simulator import SimulatorConfig, start_simulator

from tests.live import LiveStack

PALETTES = {
    "dusk": ((255, 183, 120), (120, 80, 170), (255, 236, 170), ((92, 60, 120), (62, 40, 90), (35, 24, 58))),
    "lagoon": ((140, 215, 240), (40, 120, 190), (255, 250, 220), ((40, 140, 130), (25, 100, 100), (15, 65, 72))),
}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PASSWORD = "pw-alice-1234"  # as tests/live.py makes the user

if not os.path.exists(CHROMIUM):
    message = (
        f"\n{'!' * 78}\n!! BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}.\n"
        "!! Install it with `apt-get install -y chromium` (.ci/run does this where it can).\n"
        f"{'!' * 78}"
    )
    print(message, file=sys.stderr)
    warnings.warn(message, stacklevel=1)
    pytest.skip(message, allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: `make install`")
expect = sync_api.expect
expect.set_options(timeout=30_000)  # generous: CI machines may be busy


def scenic_image(size, palette, fmt="JPEG"):
    """A small landscape (sky, sun, ridges), so the screenshots show something worth looking at."""
    top, bottom, sun, ridges = PALETTES[palette]
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))
    radius = height // 9
    draw.ellipse([width * 0.62, height * 0.22, width * 0.62 + 2 * radius, height * 0.22 + 2 * radius], fill=sun)
    dice = random.Random(palette)
    for layer, colour in enumerate(ridges):
        base = height * (0.55 + 0.13 * layer)
        points = [(0, height)]
        for x in range(0, width + 40, 40):
            points.append((x, base - dice.uniform(0, height * 0.16)))
        points.append((width, height))
        draw.polygon(points, fill=colour)
    out = io.BytesIO()
    image.save(out, fmt, quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """The app (runserver + qcluster on a fresh data directory) against an in-process simulator."""
    simulator = start_simulator(SimulatorConfig(latency=1.0, latency_jitter=0.1, per_minute=0))
    stack = LiveStack(tmp_path_factory.mktemp("studio-data"), simulator)
    try:
        stack.start(user="alice")
        yield stack.base_url, simulator
    finally:
        stack.stop()
        simulator.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Screenshots:
    """Keeps full-page screenshots in FLUXSITE_SCREENSHOTS when it is set; does nothing otherwise."""

    def __init__(self):
        folder = os.environ.get("FLUXSITE_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, page, name, full_page=True):
        if self.folder:
            page.wait_for_load_state("networkidle")
            sticky = page.locator(".variation-form > .btn-block")  # the run button stays in view when scrolling
            if full_page:
                page.evaluate("window.scrollTo(0, 0)")  # or the sticky header lands mid-page
                sticky.evaluate_all("buttons => buttons.forEach(b => { b.style.position = 'static'; })")  # in place, not where the first screen ends
            page.screenshot(path=self.folder / f"{name}.png", full_page=full_page)
            sticky.evaluate_all("buttons => buttons.forEach(b => { b.style.position = ''; })")


@pytest.fixture
def person(studio, browser):
    base_url, _ = studio
    context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page):
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Library", exact=True)).to_be_visible()
