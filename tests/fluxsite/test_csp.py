"""Content-Security-Policy: every page is sent with a policy that allows no inline script or style,
and no page needs one: no template has inline code, and no rendered page either (widgets, QR codes,
includes). Every URL pattern of the site is rendered, read from the URL configuration."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from sharing.models import ShareOptions, create_link
from tests.factories import pages_as
from variations.models import Source
from tests.fluxsite.test_security import concrete, url_patterns, world  # noqa: F401 (world: a fixture)

# Inline code a CSP without 'unsafe-inline' blocks: style attributes and elements, scripts without src
# (a JSON data block is no script), event-handler attributes, javascript: URLs.
INLINE = re.compile(
    r"""\sstyle\s*=|<style[\s>]|<script(?![^>]*\ssrc=)(?![^>]*type="application/json")[^>]*>|\son[a-z]+\s*=\s*["']|javascript:""",
    re.IGNORECASE,
)


def template_files():
    roots = [Path(settings.BASE_DIR) / "templates", *Path(settings.BASE_DIR).glob("*/templates")]
    files = [path for root in roots for path in root.rglob("*.html")]
    assert len(files) > 40, "the templates were not found"
    return files


def policy(response):
    header = response.get("Content-Security-Policy", "")
    return dict(part.strip().split(None, 1) for part in header.split(";") if part.strip())


def test_no_template_has_inline_script_or_style():
    found = [f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}" for path in template_files()
             for match in INLINE.finditer(path.read_text())]

    assert found == []


@pytest.mark.django_db
def test_the_policy_allows_no_inline_code(client):
    directives = policy(client.get("/accounts/login/"))

    for name in ("script-src", "style-src", "default-src"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in str(directives) and "unsafe-eval" not in str(directives)


def pages(ids):
    """Every page of the site, filled in with real ids: what a GET of each URL pattern answers."""
    for name, route in url_patterns():
        if name.startswith("api:") and name != "api:openapi-view":
            continue  # JSON
        yield name, concrete(route, ids)


def test_every_page_renders_with_the_policy_and_without_inline_code(world, admin):
    source = Source.objects.get(pk=world["source_id"])
    _, locked = create_link(source, ShareOptions(password="blue-whale-42"), admin)
    rendered = 0
    for client in (pages_as(admin), Client()):
        for name, url in [*pages(world), ("shared, with a password", f"/s/{locked}/")]:
            response = client.get(url)
            assert response.status_code < 500, f"GET {url} ({name}): {response.status_code}"
            if not response.get("Content-Type", "").startswith("text/html"):
                continue
            rendered += 1
            assert policy(response).get("script-src") == "'self'", f"GET {url} ({name}) has no policy"
            inline = INLINE.findall(response.content.decode())
            assert not inline, f"GET {url} ({name}) has inline code: {inline[:3]}"
    assert rendered > 40
