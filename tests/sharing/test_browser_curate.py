"""End-to-end in a real Chromium (issue 15): select five outputs with shift-click and add them to a new
board, drag one more onto it, download its zip, share it with "let visitors pick"; a visitor without a
session picks two, comments on one and confirms; the member sees the picks and the comment, exports
them, and varies the picks into a new board whose jobs complete.

Uses the live stack, browser and helpers of tests/variations/test_browser.py (skipped with it when Chromium is missing).
"""

import io
import json
import re
import time
import zipfile

import pytest

from tests.browser import Screenshots, browser, expect, log_in, scenic_image, studio  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def run_four(page):
    """Run a variation with four images from the open gallery and wait for it."""
    page.wait_for_load_state("load")
    page.locator("label[for=id_num_images_4]").click()
    page.get_by_role("button", name="Run variation").click()
    expect(page.locator("article.job").first).to_have_attribute("data-status", "completed", timeout=60_000)


def test_select_board_share_pick_and_vary_the_picks(studio, browser):  # noqa: F811
    base_url, _ = studio
    shots = Screenshots()
    context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    visitor = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    try:
        log_in(page)
        page.set_input_files("#upload-input", files=[{"name": "harbour.jpg", "mimeType": "image/jpeg", "buffer": scenic_image((800, 600), "lagoon")}])
        page.locator(".upload-row", has_text="harbour.jpg").get_by_role("link", name="Choose parameters").click()
        run_four(page)
        run_four(page)
        tiles = page.locator("article.job figure[data-select-kind=output]")
        expect(tiles).to_have_count(8)

        # Five outputs with a click and a shift-click, onto a new board.
        tiles.nth(0).locator(".select-box").click()
        tiles.nth(4).locator(".select-box").click(modifiers=["Shift"])
        expect(page.locator("[data-selection-count]")).to_have_text("5")
        shots.take(page, "selection-bar", full_page=False)
        page.once("dialog", lambda dialog: dialog.accept("Client round 1"))
        page.get_by_label("Add to board").select_option("new")
        expect(page.locator("[data-selection-status]")).to_have_text("5 added to “Client round 1”.")
        page.keyboard.press("Escape")
        expect(page.locator("#selection-bar")).to_be_hidden()

        # One more, dragged onto the board in the side list.
        sixth = tiles.nth(5)
        sixth.scroll_into_view_if_needed()
        sixth.hover()
        page.mouse.down()
        box = sixth.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2 + 30, box["y"] + box["height"] / 2 + 30, steps=5)
        target = page.locator(".board-drop-target", has_text="Client round 1")
        expect(target).to_be_visible()
        target.hover()
        page.mouse.up()
        expect(page.locator("[data-selection-status]")).to_have_text("1 added to “Client round 1”.")

        # The board: six items, a cover on the list, its zip with six images and the parameters.
        page.goto("/boards/")
        expect(page.locator(".board-card .board-cover img")).to_have_count(1)
        shots.take(page, "boards-with-cover")
        page.get_by_role("link", name="Client round 1").click()
        expect(page.locator(".board-item")).to_have_count(6)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download all (.zip)").click()
        archive = zipfile.ZipFile(io.BytesIO(open(download_info.value.path(), "rb").read()))
        assert sum(name.startswith("outputs/") for name in archive.namelist()) == 6
        assert len(json.loads(archive.read("parameters.json"))["outputs"]) == 6 and "parameters.csv" in archive.namelist()

        # Share it, letting visitors pick.
        page.locator(".board-panel").get_by_role("link", name="Share").click()
        page.get_by_label("Let visitors pick").check()
        page.get_by_role("button", name="Make the link").click()
        url = page.get_by_label("Share link").input_value()

        # The visitor, without a session: picks two, comments on one, confirms.
        outsider = visitor.new_page()
        outsider.goto(url)
        outsider.get_by_label("Your name").fill("Carla")
        controls = outsider.locator("[data-pick-output]")
        expect(controls.first).to_be_visible()
        controls.nth(0).get_by_role("button", name="☆ Pick").click()
        expect(outsider.locator("[data-pick-count]")).to_have_text("1")
        controls.nth(2).get_by_role("button", name="☆ Pick").click()
        expect(outsider.locator("[data-pick-count]")).to_have_text("2")
        # In the lightbox, P unpicks and picks the image shown.
        outsider.locator(".pick-item, .board-item").nth(0).locator("a.tile-image").click()
        expect(outsider.locator("dialog.share-lightbox")).to_be_visible()
        outsider.keyboard.press("p")
        expect(outsider.locator("[data-pick-count]")).to_have_text("1")
        outsider.keyboard.press("p")
        expect(outsider.locator("[data-pick-count]")).to_have_text("2")
        outsider.keyboard.press("Escape")
        expect(outsider.locator("dialog.share-lightbox")).to_be_hidden()
        controls.nth(2).get_by_text("Comment", exact=True).click()
        controls.nth(2).get_by_label("Comment on this image").fill("<b>Warmer</b>, please")
        controls.nth(2).get_by_role("button", name="Save comment").click()
        expect(outsider.locator("[data-pick-status]")).to_have_text("Saved.")
        outsider.get_by_role("button", name="Confirm my selection").click()
        expect(outsider.locator("[data-pick-status]")).to_have_text("Your selection is confirmed. Thank you!")
        expect(controls.nth(1).get_by_role("button", name="☆ Pick")).to_be_disabled()
        shots.take(outsider, "visitor-picks")

        # Back as the member: a count on the nav, the picks on the board and on the link's page, the CSV.
        page.goto("/boards/")
        expect(page.locator(".nav-count")).to_have_text(re.compile(r"^\s*2"))
        page.get_by_role("link", name="Client round 1").click()
        expect(page.locator(".pick-pill", has_text="Carla")).to_have_count(2)
        expect(page.locator(".pick-comment")).to_contain_text("<b>Warmer</b>, please")  # as text, not as HTML
        page.goto("/shares/")
        page.locator("tr[data-share]").first.get_by_role("link", name=re.compile("Edit|Details")).click()
        expect(page.locator(".pick-visitor")).to_contain_text("Carla")
        expect(page.locator(".pick-visitor")).to_contain_text("confirmed")
        with page.expect_download() as csv_info:
            page.get_by_role("link", name="Export the picks (.csv)").click()
        rows = open(csv_info.value.path(), encoding="utf-8").read().splitlines()
        assert len(rows) == 3 and sum("Carla" in row for row in rows) == 2

        # Vary the picks: a new board gathers the new jobs' outputs as they complete.
        page.get_by_label("Preset").select_option("subtle")
        page.get_by_role("button", name="Vary the picks").click()
        expect(page.get_by_text("2 jobs started")).to_be_visible()
        deadline = time.monotonic() + 90
        while page.get_by_text("still running").count() and time.monotonic() < deadline:
            time.sleep(2)
            page.reload()
        expect(page.get_by_text("still running")).to_have_count(0)
        assert page.locator(".board-item").count() >= 2
        expect(page.locator("h1.source-title")).to_contain_text("Next round")
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        visitor.close()
        context.close()
