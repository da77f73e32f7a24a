"""End-to-end in a real Chromium: a member shares a gallery by link, an outsider opens it in a fresh browser
without an account, the member revokes it and the outsider's next visit is refused at once.

Uses the live stack, browser and helpers of tests/variations/test_browser.py (skipped with it when Chromium is missing).
"""

import re

import pytest

from tests.browser import Screenshots, browser, expect, log_in, scenic_image, studio  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def fresh_visitor(browser, base_url):  # noqa: F811
    """A new browser context: no cookies, no session, as someone who only has the link."""
    return browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})


def test_a_member_shares_a_gallery_an_outsider_opens_it_and_revocation_stops_it(studio, browser):  # noqa: F811
    base_url, _ = studio
    shots = Screenshots()
    member_context = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
    member_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = member_context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())
    visitor = fresh_visitor(browser, base_url)
    try:
        log_in(page)
        page.set_input_files("#upload-input", files=[{"name": "harbour.jpg", "mimeType": "image/jpeg", "buffer": scenic_image((800, 600), "lagoon")}])
        page.locator(".upload-row", has_text="harbour.jpg").get_by_role("button", name="Run a variation").click()
        expect(page.locator("article.job").first).to_have_attribute("data-status", "completed", timeout=60_000)
        seed = page.locator("article.job .chip-seed").first.inner_text().split()[-1]

        # Make the link: downloads on, parameters hidden (the default), expiry left at 30 days.
        page.locator(".source-panel").get_by_role("link", name="Share").click()
        expect(page.get_by_label("Expires after")).to_have_value("30")
        page.get_by_label("Allow downloads").check()
        page.get_by_role("button", name="Make the link").click()
        expect(page.get_by_text("Link made")).to_be_visible()
        url = page.get_by_label("Share link").input_value()
        assert re.fullmatch(rf"{re.escape(base_url)}/s/[A-Za-z0-9_-]{{32}}/", url)
        expect(page.locator(".qr svg")).to_be_visible()
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        expect(page.locator("#announcer")).to_have_text("Copied to the clipboard")  # what a screen reader hears
        assert page.evaluate("navigator.clipboard.readText()") == url
        shots.take(page, "share-link")

        # The outsider, in a fresh browser without a session: the read-only gallery, images through the link.
        outsider = visitor.new_page()
        outsider.goto(url)
        expect(outsider.get_by_text("Shared with you")).to_be_visible()
        expect(outsider.locator(".topbar")).to_have_count(0)
        images = outsider.locator(".jobs-panel .tile img")
        expect(images.first).to_be_visible()
        # Polled from here: wait_for_function evaluates its text in the page, which the CSP (no unsafe-eval) forbids.
        # The lightbox's own <img> has no src until it opens.
        unloaded = "() => [...document.images].filter(i => i.getAttribute('src') && !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        for _ in range(100):
            if not outsider.evaluate(unloaded):
                break
            outsider.wait_for_timeout(100)
        assert outsider.evaluate(unloaded) == []
        sources = outsider.locator(".gallery-layout img").evaluate_all("els => els.map(e => e.getAttribute('src'))")
        assert len(sources) >= 2 and all(src.startswith("/s/") for src in sources), sources
        for control in ("Again", "Same seed", "Edit & run", "Vary this", "Run variation", "Delete"):
            expect(outsider.get_by_role("button", name=control)).to_have_count(0)
        expect(outsider.get_by_text(seed, exact=True)).to_have_count(0)  # parameters hidden
        expect(outsider.get_by_role("link", name="Download all (.zip)")).to_be_visible()
        shots.take(outsider, "shared-gallery")

        # The Shared links page counts the visit; revoking stops the link at once.
        page.goto("/shares/")
        row = page.locator("tr[data-share]").first
        expect(row).to_contain_text("1")
        expect(row).to_contain_text("downloads")
        shots.take(page, "shared-links")
        row.get_by_role("button", name="Revoke").click()
        expect(page.get_by_text("Link revoked")).to_be_visible()
        expect(page.locator("tr[data-share]").first).to_contain_text("revoked")

        response = outsider.goto(url)
        assert response.status == 410
        expect(outsider.get_by_role("heading", name=re.compile("turned off"))).to_be_visible()
        image = outsider.request.get(outsider.url.rstrip("/") + "/download.zip")
        assert image.status == 410
    finally:
        visitor.close()
        member_context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_password_link_asks_the_outsider_for_it(studio, browser):  # noqa: F811
    base_url, _ = studio
    member_context = browser.new_context(base_url=base_url)
    page = member_context.new_page()
    visitor = fresh_visitor(browser, base_url)
    try:
        log_in(page)
        page.set_input_files("#upload-input", files=[{"name": "dunes.jpg", "mimeType": "image/jpeg", "buffer": scenic_image((640, 480), "dusk")}])
        page.locator(".upload-row", has_text="dunes.jpg").get_by_role("link", name="Choose parameters").click()
        page.locator(".source-panel").get_by_role("link", name="Share").click()
        page.get_by_label("Expires after").select_option("never")
        page.get_by_label("Password (optional)").fill("sand-and-sky-7")
        page.get_by_role("button", name="Make the link").click()
        url = page.get_by_label("Share link").input_value()
        expect(page.get_by_text("never expires")).to_be_visible()
        assert "sand-and-sky-7" not in page.content()

        outsider = visitor.new_page()
        outsider.goto(url)
        expect(outsider.get_by_role("heading", name="This link needs a password")).to_be_visible()
        outsider.get_by_label("Password").fill("wrong-guess")
        outsider.get_by_role("button", name="Open").click()
        expect(outsider.get_by_text("That password is not right")).to_be_visible()
        outsider.get_by_label("Password").fill("sand-and-sky-7")
        outsider.get_by_role("button", name="Open").click()
        expect(outsider.get_by_text("Shared with you")).to_be_visible()
    finally:
        visitor.close()
        member_context.close()
