"""End-to-end, browse and find (issue 14): names, rename, search, the lightbox, one-click Vary, sizes, phones.

Same live stack as test_browser.py (runserver + qcluster + the simulator, Debian's Chromium). With
FLUXSITE_SCREENSHOTS=<folder> it keeps the library with a search, the lightbox and the phone menu.
"""

import re

import pytest

from tests.browser import CHROMIUM_ARGS, Screenshots, browser, log_in, person, scenic_image, studio  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = pytest.mark.browser


def upload(page, *files):
    page.set_input_files("#upload-input", files=[
        {"name": name, "mimeType": "image/png" if name.endswith(".png") else "image/jpeg", "buffer": data} for name, data in files
    ])
    for name, _ in files:
        expect(page.locator(".upload-row", has_text=name)).to_have_class(re.compile("is-done"))


def tab_stops(page, selector, exclude="none"):
    """How many elements inside the `selector` elements the Tab key reaches (shown, not taken out of the order)."""
    return page.locator(selector).evaluate_all(
        """(roots, exclude) => roots.flatMap(root => [...root.querySelectorAll('a[href], button, summary, input, select, textarea')])
            .filter(el => el.tabIndex >= 0 && !el.disabled && el.checkVisibility() && !el.matches(exclude)).length""",
        exclude,
    )


def test_names_rename_search_lightbox_and_one_click_vary(studio, person):
    page = person
    shots = Screenshots()
    log_in(page)

    # Three uploads keep their file names as titles.
    upload(
        page,
        ("Harbour at dawn.jpg", scenic_image((960, 640), "lagoon")),
        ("Portrait of Ada.png", scenic_image((600, 900), "dusk", "PNG")),
        ("Ridge panorama.jpg", scenic_image((1800, 300), "dusk")),
    )
    page.reload()
    titles = page.locator(".source-tile-title")
    expect(titles).to_have_count(3)
    for name in ("Harbour at dawn", "Portrait of Ada", "Ridge panorama"):
        expect(titles.filter(has_text=name)).to_have_count(1)
    # Justified rows: each tile's width follows its image's shape, so the panorama is the widest.
    widths = {name: page.locator(".source-tile", has_text=name).bounding_box()["width"] for name in ("Portrait of Ada", "Ridge panorama")}
    assert widths["Ridge panorama"] > 2 * widths["Portrait of Ada"]

    # A portrait source starts the form at a portrait size.
    page.get_by_role("link", name="Portrait of Ada").first.click()
    width, height = map(int, page.locator("#id_size").input_value().split("*"))
    assert height > width and abs(width / height - 600 / 900) < 0.03

    # Rename from the gallery header.
    page.goto("/")
    page.get_by_role("link", name="Harbour at dawn").first.click()
    page.locator(".rename > summary").click()
    page.get_by_label("Title").fill("Harbour, evening")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Harbour, evening")).to_be_visible()

    # At 1440 × 900 the run button is in view without scrolling (sticky).
    page.set_viewport_size({"width": 1440, "height": 900})
    page.wait_for_load_state("load")
    run = page.get_by_role("button", name="Run variation")
    box = run.bounding_box()
    assert box["y"] + box["height"] <= 900, "Run variation is below the fold"
    page.locator("label[for=id_num_images_2]").click()
    run.click()
    job = page.locator("article.job").first
    expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(job.locator(".tile")).to_have_count(2)
    # One menu per output (plus the selection checkbox of select-many, static/js/select.js), not a form per action.
    assert tab_stops(page, "article.job .outputs .tile", exclude=".select-box") == 2, "each output should be one tab stop"

    # Star the second output from its tile's menu.
    second = job.locator(".tile").nth(1)
    second.hover()
    second.locator(".tile-menu > summary").click()
    second.get_by_role("button", name="Star").click()
    expect(second.locator(".star-btn")).to_have_attribute("aria-pressed", "true")
    # The page's one tile menu, copied into each tile, starts from that output's own star.
    page.reload()
    second = page.locator("article.job").first.locator(".tile").nth(1)
    second.hover()
    second.locator(".tile-menu > summary").click()
    expect(second.get_by_role("button", name="Starred")).to_have_attribute("aria-pressed", "true")
    # A job's Delete (one form with its re-run buttons) asks first: dismissed, the job stays.
    jobs = page.locator("article.job").count()
    page.once("dialog", lambda dialog: dialog.dismiss())
    job.get_by_role("button", name="Delete").click()
    page.wait_for_timeout(300)
    expect(page.locator("article.job")).to_have_count(jobs)

    # Search by name, then by starred.
    page.goto("/")
    page.get_by_role("searchbox", name="Search").fill("evening")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/\?q=evening"))
    expect(page.locator(".source-tile")).to_have_count(1)
    expect(page.locator(".source-tile-title")).to_have_text("Harbour, evening")
    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_label("Starred only").check()
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".source-tile")).to_have_count(1)
    expect(page.locator("[data-result-count]")).to_have_text("1 source")
    page.goto("/?q=portrait")
    expect(page.locator(".source-tile-title")).to_have_text("Portrait of Ada")
    page.goto("/?q=a")
    shots.take(page, "library-search")

    # The lightbox: open the first output, → and ← with the keys, ? for the list, Esc back.
    page.goto("/")
    page.get_by_role("link", name="Harbour, evening").first.click()
    gallery_url = page.url
    job = page.locator("article.job").first
    job.locator(".tile-image").first.click()
    expect(page.get_by_role("heading", name=re.compile("Variation 1"))).to_be_visible()
    first_url = page.url
    page.wait_for_load_state("load")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("heading", name=re.compile("Variation 2"))).to_be_visible()
    assert page.url != first_url
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("heading", name=re.compile("Variation 1"))).to_be_visible()
    assert page.url == first_url
    shots.take(page, "lightbox", full_page=False)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    page.keyboard.press("c")
    expect(page.locator(".viewer")).to_have_attribute("data-mode", "slider")
    compare = page.locator(".compare").bounding_box()
    assert compare["y"] + compare["height"] <= page.viewport_size["height"], "the compare slider is taller than the window"
    page.keyboard.press("Escape")  # back where the person was, however many outputs they went through
    expect(page).to_have_url(gallery_url)
    page.go_forward()  # and forward again to the output last seen, as Back and Forward do
    expect(page.get_by_role("heading", name=re.compile("Variation 1"))).to_be_visible()

    # Vary (subtle) with one click: a derived source, and its job runs with the subtle preset at once.
    page.get_by_role("button", name="Vary (subtle)").click()
    expect(page.get_by_role("heading", name="Variation 1 of Harbour, evening")).to_be_visible()
    derived_job = page.locator("article.job").first
    expect(derived_job).to_have_attribute("data-status", "completed", timeout=60_000)
    expect(derived_job.locator(".chip", has_text="Guidance")).to_contain_text("6")


def test_the_phone_menu_shows_every_item_and_who_is_signed_in(studio, browser):
    base_url, _ = studio
    shots = Screenshots()
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        log_in(page)
        toggle = page.get_by_role("button", name="Menu")
        expect(toggle).to_be_visible()
        expect(page.get_by_role("link", name="Shared links")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        for name in ("Library", "Jobs", "Boards", "Costs", "Shared links", "People", "API tokens"):
            expect(page.get_by_role("link", name=name, exact=True)).to_be_in_viewport()
        expect(page.locator(".account-name")).to_be_in_viewport()
        expect(page.locator(".account-name")).to_have_text("alice")
        expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
        shots.take(page, "phone-menu", full_page=False)
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
    finally:
        context.close()


def test_a_share_page_opens_its_images_in_a_read_only_lightbox(studio, browser, person):
    base_url, _ = studio
    page = person
    log_in(page)
    upload(page, ("Shared harbour.jpg", scenic_image((800, 600), "lagoon")))
    page.locator(".upload-row", has_text="Shared harbour.jpg").get_by_role("link", name="Choose parameters").click()
    page.wait_for_load_state("load")
    page.locator("label[for=id_num_images_2]").click()
    page.get_by_role("button", name="Run variation").click()
    expect(page.locator("article.job").first).to_have_attribute("data-status", "completed", timeout=60_000)
    page.locator(".source-panel").get_by_role("link", name="Share", exact=True).click()
    page.get_by_role("button", name="Make the link").click()
    url = page.get_by_label("Share link").input_value()

    visitor = browser.new_context(base_url=base_url, viewport={"width": 1366, "height": 900})
    errors = []
    try:
        outsider = visitor.new_page()
        outsider.on("pageerror", lambda error: errors.append(str(error)))
        outsider.goto(url)
        expect(outsider.get_by_role("heading", name=re.compile("Shared harbour"))).to_be_visible()
        outsider.locator("a.tile-image").first.click()
        viewer = outsider.get_by_role("dialog", name="Image viewer")
        expect(viewer).to_be_visible()
        expect(viewer.locator(".share-lightbox-where")).to_have_text("1 of 2")
        outsider.keyboard.press("ArrowRight")
        expect(viewer.locator(".share-lightbox-where")).to_have_text("2 of 2")
        expect(outsider).to_have_url(re.compile(r"#view-output-"))
        linked = outsider.url
        outsider.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        assert "#view-" not in outsider.url
        outsider.goto(linked)  # a view can be linked
        expect(viewer.locator(".share-lightbox-where")).to_have_text("2 of 2")
        expect(outsider.get_by_role("button", name="Vary (subtle)")).to_have_count(0)  # read-only
    finally:
        visitor.close()
    assert not errors, errors
