"""End-to-end: a person in a real Chromium uses the studio against the real app, a real worker and the simulator.

The app runs as `manage.py runserver` and `manage.py qcluster` subprocesses on a fresh data directory
(their own SQLite file), pointed at an in-process WaveSpeed simulator (a test double). Playwright drives
Debian's Chromium. Set FLUXSITE_SCREENSHOTS=<folder> to keep screenshots of the main pages there
(docs/screenshots/ holds the ones shown in the README).
"""

import base64
import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pytest

from variations import images

from tests.browser import Screenshots, browser, expect, log_in, person, scenic_image, studio  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def seed_of(card):
    return int(card.locator(".chip-seed").inner_text().split()[-1])


def test_a_person_uploads_runs_reruns_compares_downloads_and_filters_history(studio, browser, person, tmp_path):
    base_url, simulator = studio
    shots = Screenshots()
    page = person

    # Sign-in page, then the empty library of a new install.
    page.goto("/accounts/login/")
    shots.take(page, "login")
    log_in(page)
    expect(page.get_by_text("Simulator mode")).to_be_visible()
    expect(page.get_by_role("heading", name="Your library is empty")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    shots.take(page, "library-empty")

    # Upload by the file picker: one good image and one file that is not an image, each with its own outcome.
    photo = tmp_path / "sunset.jpg"
    photo.write_bytes(scenic_image((960, 640), "dusk"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    page.set_input_files("#upload-input", [str(photo), str(notes)])
    good = page.locator(".upload-row", has_text="sunset.jpg")
    bad = page.locator(".upload-row", has_text="notes.txt")
    expect(good).to_have_class(re.compile("is-done"))
    expect(bad).to_have_class(re.compile("is-error"))
    expect(bad.locator(".upload-message")).to_contain_text("Not an image")
    expect(bad.get_by_role("link", name="Choose parameters")).to_be_hidden()  # nothing to start from a refused file
    expect(page.locator(".source-tile")).to_have_count(1)
    expect(page.locator("#empty-library")).to_have_count(0)

    # Straight from the upload row to the gallery, then a Subtle variation with two images.
    good.get_by_role("link", name="Choose parameters").click()
    expect(page.get_by_role("heading", name="New variation")).to_be_visible()
    page.wait_for_load_state("load")  # the form's deferred script has attached its handlers
    page.get_by_role("button", name="Subtle").click()
    expect(page.get_by_label("Closeness to the source", exact=False).last).to_have_value("6")
    page.locator("label[for=id_num_images_2]").click()
    size_choice = page.locator("[data-size]").first
    chosen_size = size_choice.get_attribute("data-size")
    size_choice.click()
    page.get_by_role("button", name="Run variation").click()

    # Watch it complete without reloading: a marker set on this document must survive.
    first = page.locator("article.job").first
    expect(first).to_have_attribute("data-status", re.compile("queued|processing"))
    page.evaluate("window.__sameDocument = true")
    expect(first).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(first.locator(".tile img")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True
    expect(first.locator(".chip", has_text="Size")).to_contain_text(chosen_size.replace("*", " × "))
    expect(first.locator(".chip", has_text="Guidance")).to_contain_text("6")
    original_seed = seed_of(first)

    # Re-run with the same seed: a second job with the same seed and the same images.
    first.get_by_role("button", name="Same seed").click()
    expect(page.locator("article.job")).to_have_count(2)
    rerun = page.locator("article.job").first
    page.evaluate("window.__sameDocument = true")
    expect(rerun).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(rerun.locator(".tile img")).to_have_count(2)
    assert page.evaluate("window.__sameDocument") is True
    assert seed_of(rerun) == original_seed

    def pixels(job):
        return [page.request.get(img.get_attribute("src")).body() for img in job.locator(".tile img").all()]

    assert pixels(rerun) == pixels(page.locator("article.job").nth(1)), "the same seed must reproduce the same images"
    shots.take(page, "gallery")

    # Open compare from an output: a slider over the source, moved with the keyboard, then side by side.
    output = rerun.locator(".tile").first
    output.hover()
    output.locator(".tile-menu > summary").click()  # one menu per tile
    output.get_by_role("link", name="Compare with the source").click()
    viewer = page.locator(".viewer")
    expect(viewer).to_have_attribute("data-mode", "slider")
    slider = page.get_by_label("Move the divider", exact=False)
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowLeft")
    assert page.locator(".compare").evaluate("el => el.style.getPropertyValue('--pos')") == "30%"
    shots.take(page, "compare")
    page.get_by_role("link", name="Side by side").click()
    expect(viewer).to_have_attribute("data-mode", "split")
    expect(page.locator(".view-split img")).to_have_count(2)

    # Download the whole gallery: the source, all four outputs, and their parameters as JSON and CSV.
    page.locator("[data-lightbox-back]").click()  # the crumb back to the gallery, named by its title
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all (.zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    names = archive.namelist()
    assert any(n.startswith("source-") for n in names)
    assert len([n for n in names if n.startswith("outputs/")]) == 4
    parameters = json.loads(archive.read("parameters.json"))
    assert {row["seed"] for row in parameters["outputs"]} == {original_seed}
    assert archive.read("parameters.csv").decode().count("\n") == 5  # header + four outputs
    for name in (n for n in names if n.startswith("outputs/")):  # each file tells how it was made
        assert images.read_parameters(archive.read(name))["seed"] == original_seed

    # A slow job, cancelled from the history page, then retried there and seen completing live.
    simulator.config.latency = 60
    page.get_by_role("button", name="Run variation").click()
    expect(page.locator("article.job")).to_have_count(3)
    page.goto("/jobs/")
    expect(page.locator(".job-row")).to_have_count(3)
    slow = page.locator(".job-row").first
    expect(slow).to_have_attribute("data-status", re.compile("queued|processing"))
    slow.get_by_role("button", name="Cancel").click()
    expect(page.locator(".flash", has_text="Job cancelled")).to_be_visible()
    cancelled = page.locator(".job-row").first
    expect(cancelled).to_have_attribute("data-status", "cancelled")
    simulator.config.latency = 1.0
    cancelled.get_by_role("button", name="Retry").click()
    expect(page.locator(".job-row")).to_have_count(4)
    page.evaluate("window.__sameDocument = true")
    expect(page.locator(".job-row").first).to_have_attribute("data-status", "completed", timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True
    page.reload()  # the retried job links to its retry instead of offering Retry again
    retried = page.locator('.job-row[data-status="cancelled"]')
    expect(retried.get_by_role("link", name="See its retry")).to_be_visible()
    expect(retried.get_by_role("button", name="Retry")).to_have_count(0)

    # A job WaveSpeed fails shows its error in the history.
    simulator.config.fail_rate = 1.0
    page.locator(".job-row").first.get_by_role("button", name="Again").click()
    failed = page.locator(".job-row").first
    expect(failed).to_have_attribute("data-status", "failed", timeout=60_000)
    expect(failed.locator(".job-error")).to_be_visible()
    simulator.config.fail_rate = 0.0
    shots.take(page, "jobs")

    # History filters: by status, by person, by date, and an impossible date range refused next to the field.
    filters = page.get_by_role("form", name="Filter jobs")
    filters.get_by_label("Status").select_option("cancelled")
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator(".job-row")).to_have_count(1)
    expect(page.locator(".job-row").first).to_have_attribute("data-status", "cancelled")
    filters.get_by_label("Status").select_option("failed")
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator(".job-row")).to_have_count(1)
    filters.get_by_label("Status").select_option("completed")
    filters.get_by_label("Person").select_option("alice")
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator(".job-row")).to_have_count(3)
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    filters.get_by_label("From").fill(tomorrow)
    filters.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No job matches these filters")).to_be_visible()
    filters.get_by_label("From").fill(date.today().isoformat())
    filters.get_by_label("To").fill((date.today() - timedelta(days=3)).isoformat())
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator(".field-error")).to_contain_text("before the start date")

    # "Vary this": the output becomes a source, and the lineage shows both ways.
    page.goto("/")
    page.locator(".source-tile a.source-tile-link").first.click()
    output_tile = page.locator("article.job .tile").first
    output_tile.hover()
    output_tile.locator(".tile-menu > summary").click()
    output_tile.get_by_role("button", name="Vary this…").click()
    expect(page.get_by_text("Made from")).to_be_visible()
    page.locator(".lineage").get_by_role("link", name="its own source").click()
    expect(page.get_by_text("Variations made from this (1)")).to_be_visible()
    page.goto("/")
    expect(page.locator(".source-tile")).to_have_count(2)
    shots.take(page, "library")


def test_the_studio_works_on_a_phone_sized_screen(studio, browser):
    """Same app, a 390 px wide touch screen: no sideways scrolling, and the main controls within reach."""
    base_url, _ = studio
    shots = Screenshots()
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        log_in(page)
        page.set_input_files("#upload-input", files=[{"name": "phone.png", "mimeType": "image/png", "buffer": scenic_image((600, 900), "lagoon", "PNG")}])
        row = page.locator(".upload-row", has_text="phone.png")
        expect(row.get_by_role("link", name="Choose parameters")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
        shots.take(page, "phone-library", full_page=False)
        row.get_by_role("button", name="Run a variation").click()
        expect(page.locator("article.job").first).to_have_attribute("data-status", "completed", timeout=60_000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
        tools = page.locator("article.job .tile-tools").first
        expect(tools).to_have_css("opacity", "1")  # no hover on touch screens: the tools are always shown
        page.locator("article.job").first.evaluate("job => job.scrollIntoView()")
        shots.take(page, "phone-gallery", full_page=False)
    finally:
        context.close()


def test_drag_and_drop_and_paste_upload_each_file_with_its_own_outcome(studio, person):
    """Files dropped onto the page or pasted from the clipboard upload one by one, each with its own row."""
    page = person
    log_in(page)
    page.evaluate(
        """async ([good, pasted]) => {
            const file = async (b64, name, type) => new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, { type });  // no fetch of a data: URL: the CSP's connect-src is 'self'
            const dropped = new DataTransfer();
            dropped.items.add(await file(good, "dropped.jpg", "image/jpeg"));
            dropped.items.add(new File([new Uint8Array(21 * 1024 * 1024)], "huge.jpg", { type: "image/jpeg" }));
            document.body.dispatchEvent(new DragEvent("dragenter", { dataTransfer: dropped, bubbles: true }));
            document.body.dispatchEvent(new DragEvent("drop", { dataTransfer: dropped, bubbles: true, cancelable: true }));
            const clipboard = new DataTransfer();
            clipboard.items.add(await file(pasted, "image.png", "image/png"));
            document.body.dispatchEvent(new ClipboardEvent("paste", { clipboardData: clipboard, bubbles: true, cancelable: true }));
        }""",
        [base64.b64encode(scenic_image((500, 400), "lagoon")).decode(), base64.b64encode(scenic_image((400, 500), "dusk", "PNG")).decode()],
    )
    expect(page.locator(".upload-row", has_text="dropped.jpg")).to_have_class(re.compile("is-done"))
    expect(page.locator(".upload-row", has_text="image.png")).to_have_class(re.compile("is-done"))
    huge = page.locator(".upload-row", has_text="huge.jpg")
    expect(huge).to_have_class(re.compile("is-error"))
    expect(huge.locator(".upload-message")).to_contain_text("Too large")
    expect(page.locator("#drop-overlay")).to_be_hidden()


def test_sensitive_outputs_stay_blurred_until_the_person_clicks(studio, person):
    _, simulator = studio
    page = person
    log_in(page)
    page.set_input_files("#upload-input", files=[{"name": "beach.jpg", "mimeType": "image/jpeg", "buffer": scenic_image((640, 480), "lagoon")}])
    simulator.config.nsfw_rate = 1.0
    try:
        page.locator(".upload-row", has_text="beach.jpg").get_by_role("button", name="Run a variation").click()
        job = page.locator("article.job").first
        expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    finally:
        simulator.config.nsfw_rate = 0.0
    tile = job.locator(".tile").first
    expect(tile).to_have_class(re.compile("tile-nsfw"))
    expect(tile.locator("img")).to_have_css("filter", re.compile("blur"))
    tile.get_by_role("button", name="Flagged as sensitive").click()
    expect(tile).to_have_class(re.compile("revealed"))
    expect(tile.locator("img")).to_have_css("filter", "none")
