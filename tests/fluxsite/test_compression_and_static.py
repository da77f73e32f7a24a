"""Pages and JSON go out gzip-compressed; media and zips as they are; static files under hashed names with a
year's cache, through the real setup (collectstatic's manifest, whitenoise), as `make run` serves them; and a
full gallery page stays light."""

import gzip
import re

from django.urls import reverse

from tests.factories import make_job, pages_as

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
HASHED_STYLESHEET = re.compile(r'href="(/static/css/studio\.[0-9a-f]{12}\.css)"')


def test_a_page_is_compressed_for_a_browser_that_accepts_gzip(member, completed_job):
    client = pages_as(member)
    url = reverse("source-gallery", args=[completed_job.source_id])

    plain = client.get(url)
    packed = client.get(url, headers=GZIP)

    assert "Content-Encoding" not in plain
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    html = gzip.decompress(packed.content).decode()
    assert f'id="output-{completed_job.outputs.first().pk}"' in html
    assert len(packed.content) < len(plain.content) / 3


def test_json_is_compressed_but_images_and_zips_are_sent_as_they_are(member, completed_job):
    client = pages_as(member)
    output = completed_job.outputs.first()

    schema = client.get("/api/v1/openapi.json", headers=GZIP)
    image = client.get(reverse("media-output", args=[output.pk]), headers=GZIP)
    archive = client.get(reverse("source-download", args=[completed_job.source_id]), headers=GZIP)

    assert schema["Content-Encoding"] == "gzip"
    assert image.status_code == archive.status_code == 200
    assert "Content-Encoding" not in image and "Content-Encoding" not in archive
    assert b"".join(image.streaming_content if image.streaming else [image.content]) == output.image.open("rb").read()


def test_pages_link_static_files_by_hashed_name_served_with_a_years_cache(member, source):
    client = pages_as(member)
    page = client.get(reverse("source-gallery", args=[source.pk])).content.decode()
    hashed = HASHED_STYLESHEET.search(page).group(1)

    answer = client.get(hashed, headers=GZIP)
    unhashed = client.get("/static/css/studio.css")

    assert answer.status_code == 200
    assert cache_seconds(answer) >= 365 * 24 * 3600 and "immutable" in answer["Cache-Control"]
    assert answer["Content-Encoding"] == "gzip"  # the .gz copy collectstatic made
    assert b"".join(answer.streaming_content).startswith(b"\x1f\x8b")
    assert cache_seconds(unhashed) <= 60 and "immutable" not in unhashed["Cache-Control"]  # its content can change


def cache_seconds(response):
    return int(re.search(r"max-age=(\d+)", response["Cache-Control"]).group(1))


def test_a_gallery_page_of_30_outputs_is_under_60_kb_of_html(member, source):
    """The issue's page weight (`make bench` measures it too): a full page, 10 jobs of 3 outputs, as their owner
    sees it, with every control. Tiles share one menu (includes/tile_menu.html) instead of carrying 30."""
    for _ in range(10):
        make_job(source, member, outputs=3, size="256*256")
    html = pages_as(member).get(reverse("source-gallery", args=[source.pk])).content
    assert html.count(b'<figure class="tile ') == 30 and html.count(b'<template id="tile-menu"') == 1
    assert len(html) < 60_000, len(html)
