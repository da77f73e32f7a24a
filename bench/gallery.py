"""Pages: render time and SQL queries with a small and a large library, a 30-output gallery's HTML
bytes (raw and gzip-compressed by the app's own middleware), and how static files are served.

Each size runs in a fresh process (`python -m bench.gallery SOURCES`) with its own data directory:
it collects the static files (hashed names, as `make run` and the Docker image do), fills the database
with SOURCES sources, 4 completed jobs of one output each per source (rows in bulk; every row points at
one real pair of files, since rendering a page reads no image), then renders each page through Django's
test client as a logged-in user and counts its SQL queries. Titles are "Harbour 00042" and the like, so
a search by name finds one source however large the library. The small run also adds one source with
10 jobs of 3 outputs (a full gallery page: 30 output tiles) and fetches a stylesheet by its hashed URL.
"""

import gzip
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOBS_PER_SOURCE = 4
PLACES = ("Harbour", "Ridge", "Dusk", "Lagoon")  # titles "Harbour 00042": a search finds one source by name
RENDERS = 15
BATCH = 2000
GALLERY_30_MAX_BYTES = 60_000  # the "under 60 KB of HTML", uncompressed
TARGET_PAGES = ("library (/)", "source gallery", "library search (/?q=harbour 00040)")  # the "library"


def fill_library(source_count, user):
    """SOURCES sources with JOBS_PER_SOURCE completed one-output jobs each, written in bulk."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone
    from PIL import Image

    from variations.models import Output, Source, Status, Variation

    picture = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 200)).save(picture, "JPEG")
    image_name = default_storage.save("bench/picture.jpg", ContentFile(picture.getvalue()))
    thumbnail_name = default_storage.save("bench/thumbnail.webp", ContentFile(b"not read by any page"))
    start = timezone.now() - timedelta(days=30)
    for first in range(0, source_count, BATCH):
        sources, jobs, outputs = [], [], []
        for number in range(first, min(first + BATCH, source_count)):
            made = start + timedelta(seconds=number * 60)
            source = Source(
                sha256=f"{number:064x}", title=f"{PLACES[number % len(PLACES)]} {number:05d}", image=image_name, thumbnail=thumbnail_name, width=1024, height=768,
                format="JPEG", byte_size=300_000, uploaded_by=user, created_at=made,
            )
            sources.append(source)
            for index in range(JOBS_PER_SOURCE):
                job = Variation(
                    id=uuid.uuid4(), source=source, owner=user, seed=number * 10 + index, status=Status.COMPLETED,
                    prediction_id=uuid.uuid4().hex, created_at=made + timedelta(seconds=index + 1),
                    submitted_at=made, finished_at=made, completed_at=made + timedelta(seconds=index + 5),
                    inference_ms=3000,
                )
                jobs.append(job)
                outputs.append(Output(
                    variation=job, index=0, image=image_name, thumbnail=thumbnail_name, width=1024, height=1024,
                    format="JPEG", byte_size=200_000, created_at=job.completed_at,
                ))
        Source.objects.bulk_create(sources)
        Variation.objects.bulk_create(jobs)
        Output.objects.bulk_create(outputs)
    return image_name, thumbnail_name


def render_stats(client, url):
    """The least and the median seconds of RENDERS renders (after two warm-ups), and the queries of one render.
    The least is compared across sizes: the machine is shared, and other work only ever adds time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):
        assert client.get(url).status_code == 200, url
    seconds = []
    for _ in range(RENDERS):
        started = time.perf_counter()
        response = client.get(url)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {"min_seconds": min(seconds), "median_seconds": statistics.median(seconds), "queries": len(queries)}


def fill_gallery(user, image_name, thumbnail_name, jobs=10, outputs_per_job=3):
    """One source whose first gallery page shows jobs × outputs_per_job output tiles (one starred, one
    flagged as sensitive: each kind of tile drawn at least once)."""
    from django.utils import timezone

    from variations.models import Output, Source, Status, Variation

    made = timezone.now()
    source = Source.objects.create(
        sha256="f" * 64, title="Gallery of thirty", image=image_name, thumbnail=thumbnail_name, width=1024,
        height=768, format="JPEG", byte_size=300_000, uploaded_by=user,
    )
    for number in range(jobs):
        job = Variation.objects.create(
            source=source, owner=user, seed=1_000_000 + number, status=Status.COMPLETED, num_images=outputs_per_job,
            prediction_id=uuid.uuid4().hex, created_at=made + timedelta(seconds=number), submitted_at=made,
            finished_at=made, completed_at=made + timedelta(seconds=number + 4), inference_ms=3000,
        )
        Output.objects.bulk_create(
            Output(
                variation=job, index=index, image=image_name, thumbnail=thumbnail_name, width=1024, height=1024,
                format="JPEG", byte_size=200_000, starred=(number, index) == (0, 0), nsfw=(number, index) == (1, 2),
            )
            for index in range(outputs_per_job)
        )
    return source


def html_bytes(client, url):
    """The page's HTML as sent without and with `Accept-Encoding: gzip` (through the app's middleware)."""
    plain = client.get(url)
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert plain.status_code == packed.status_code == 200, url
    encoding = packed.get("Content-Encoding", "")
    body = gzip.decompress(packed.content) if encoding == "gzip" else packed.content
    return {
        "url": url,
        "raw_bytes": len(plain.content),
        "sent_bytes": len(packed.content),
        "content_encoding": encoding,
        "same_page": len(body) == len(plain.content),  # CSRF tokens differ per answer, their length does not
    }


def static_file(client, name="css/studio.css"):
    """How a stylesheet referenced by the pages is served: its URL, caching and encoding."""
    from django.templatetags.static import static

    url = static(name)
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, url
    return {
        "name": name,
        "url": url,
        "hashed": url != f"/static/{name}",
        "cache_control": response.get("Cache-Control", ""),
        "max_age": int((re.search(r"max-age=(\d+)", response.get("Cache-Control", "")) or [0, 0])[1]),
        "content_encoding": response.get("Content-Encoding", ""),
    }


def measure_in_this_process(source_count, pages_and_static=False):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from variations.models import Source

    call_command("collectstatic", "--noinput", verbosity=0)
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", "", "bench-password-1")
    started = time.perf_counter()
    image_name, thumbnail_name = fill_library(source_count, user)
    filled = time.perf_counter() - started
    client = Client()
    client.force_login(user)
    newest = Source.objects.order_by("-created_at").first()
    pages = {
        "library (/)": "/",
        "library, last page": f"/?page={-(-source_count // 24)}",
        "source gallery": f"/sources/{newest.pk}/",
        "job history (/jobs/)": "/jobs/",
        "library search (/?q=harbour 00040)": "/?q=harbour+00040",
        "library search, starred only": "/?q=harbour+00040&starred=true",
    }
    result = {
        "sources": source_count,
        "outputs": source_count * JOBS_PER_SOURCE,
        "fill_seconds": filled,
        "pages": {name: render_stats(client, url) for name, url in pages.items()},
    }
    if pages_and_static:
        thirty = fill_gallery(user, image_name, thumbnail_name)
        result["gallery_30"] = html_bytes(client, f"/sources/{thirty.pk}/")
        result["library_html"] = html_bytes(client, "/")
        result["static"] = static_file(client)
    return result


def measure(source_count, pages_and_static=False):
    with tempfile.TemporaryDirectory(prefix="fluxsite-bench-gallery-") as data_dir:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fluxsite.settings",
            "FLUXSITE_DATA_DIR": data_dir,
            "FLUXSITE_STATIC_ROOT": str(Path(data_dir) / "static"),
            "DJANGO_ALLOWED_HOSTS": "testserver",
        }
        args = [str(source_count)] + (["--pages-and-static"] if pages_and_static else [])
        done = subprocess.run(
            [sys.executable, "-m", "bench.gallery", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def targets(small, large):
    """The issue's page targets as bench rows (see /bench/README.md's summary)."""
    thirty, served = small["gallery_30"], small["static"]
    rows = [
        {
            "measurement": "page HTML compressed (30-output gallery, Accept-Encoding: gzip)",
            "result": f"Content-Encoding: {thirty['content_encoding'] or 'none'}; "
                      f"{thirty['raw_bytes']:,} → {thirty['sent_bytes']:,} bytes sent",
            "target": "gzip",
            "met": thirty["content_encoding"] == "gzip" and thirty["same_page"],
        },
        {
            "measurement": "static files: hashed names, a year's cache",
            "result": f"{served['url']}: Cache-Control: {served['cache_control'] or 'none'}; "
                      f"Content-Encoding: {served['content_encoding'] or 'none'}",
            "target": "hashed name; immutable, max-age ≥ 31536000 (a year)",
            "met": served["hashed"] and served["max_age"] >= 365 * 24 * 3600 and "immutable" in served["cache_control"],
        },
        {
            "measurement": "source gallery of 30 outputs: HTML bytes",
            "result": f"{thirty['raw_bytes'] / 1000:.1f} KB ({thirty['raw_bytes']:,} bytes; "
                      f"{thirty['sent_bytes'] / 1000:.1f} KB gzip-compressed)",
            "target": "< 60 KB (60,000 bytes)",
            "met": thirty["raw_bytes"] < GALLERY_30_MAX_BYTES,
        },
    ]
    for page in TARGET_PAGES:
        before, after = small["pages"][page], large["pages"][page]
        ratio = after["min_seconds"] / before["min_seconds"]
        rows.append({
            "measurement": f"{page}: render time {large['sources']:,} / {small['sources']:,} sources; SQL queries",
            "result": f"{ratio:.2f} ({after['min_seconds'] * 1000:.1f} ms vs {before['min_seconds'] * 1000:.1f} ms); "
                      f"{after['queries']} vs {before['queries']} queries",
            "target": "≤ 1.5; the same number of queries",
            "met": ratio <= 1.5 and after["queries"] == before["queries"],
        })
    return rows


def markdown(result):
    """The Pages section of bench/README.md: how it is measured, every page at both sizes, the page weights."""
    from .common import markdown_table

    small, large = result["libraries"]
    pages = markdown_table(
        ("page", f"{small['sources']:,} sources, ms (median)", f"{large['sources']:,} sources, ms (median)", "ratio",
         "SQL queries"),
        [
            (name, f"{before['min_seconds'] * 1000:.1f} ({before['median_seconds'] * 1000:.1f})",
             f"{after['min_seconds'] * 1000:.1f} ({after['median_seconds'] * 1000:.1f})",
             f"{after['min_seconds'] / before['min_seconds']:.2f}", f"{before['queries']} / {after['queries']}")
            for name, before in small["pages"].items()
            for after in [large["pages"][name]]
        ],
    )
    weights = markdown_table(
        ("page", "HTML bytes", "sent with Accept-Encoding: gzip", "Content-Encoding"),
        [
            (label, f"{page['raw_bytes']:,}", f"{page['sent_bytes']:,}", page["content_encoding"] or "none")
            for label, page in (("source gallery, 10 jobs × 3 outputs", result["gallery_30"]),
                                ("library (/), 24 sources", small["library_html"]))
        ],
    )
    served = result["static"]
    return f"""Two libraries, {small['sources']:,} and {large['sources']:,} sources, each with {JOBS_PER_SOURCE} completed
one-output jobs per source, rows written in bulk; static files collected as `make run` and the Docker image do.
Each page is rendered {RENDERS} times through Django's test client as a signed-in admin (after two warm-ups): the
least time is compared (the machine is shared, and other work only adds time), the median is beside it, and the
SQL queries are those of one render.

{pages}

Page weight: a source with 10 jobs of 3 outputs (a full gallery page of 30 output tiles, the most job cards 30
outputs can bring to one page), fetched through the whole middleware stack, once plain and once as a browser asks.
Tiles carry no menu of their own: each gets a copy of the page's one menu (`templates/includes/tile_menu.html`).

{weights}

Static files: `{served['url']}` (for `{served['name']}`) answers `Cache-Control: {served['cache_control']}` and
`Content-Encoding: {served['content_encoding'] or 'none'}` (whitenoise's year-plus cache for hashed names; the .gz
copy collectstatic made)."""


def run(quick):
    """The small library (100 sources) with the 30-output gallery and a static file; the large one
    (10,000 sources, 1,000 with `quick`)."""
    small = measure(100, pages_and_static=True)
    large = measure(1000 if quick else 10_000)
    return {"libraries": [small, large], "gallery_30": small["gallery_30"], "static": small["static"],
            "targets": targets(small, large)}


if __name__ == "__main__":
    print(json.dumps(measure_in_this_process(int(sys.argv[1]), pages_and_static="--pages-and-static" in sys.argv)))
