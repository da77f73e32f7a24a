"""Gallery pages at scale: render time and SQL queries with a small and a large library.

Each size runs in a fresh process (`python -m bench.gallery SOURCES`) with its own data directory:
it fills the database with SOURCES sources, 4 completed jobs of one output each per source (rows in
bulk; every row points at one real pair of files, since rendering a page reads no image), then renders
each page through Django's test client as a logged-in user and counts its SQL queries. Titles are
"Harbour 00042" and the like, so a search by name finds one source however large the library.
"""

import io
import json
import os
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


def render_stats(client, url):
    """Median seconds over RENDERS renders (after two warm-ups) and the queries of one render."""
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
    return {"median_seconds": statistics.median(seconds), "queries": len(queries)}


def measure_in_this_process(source_count):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from variations.models import Source

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_superuser("bench", "", "bench-password-1")
    started = time.perf_counter()
    fill_library(source_count, user)
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
    return {
        "sources": source_count,
        "outputs": source_count * JOBS_PER_SOURCE,
        "fill_seconds": filled,
        "pages": {name: render_stats(client, url) for name, url in pages.items()},
    }


def measure(source_count):
    with tempfile.TemporaryDirectory(prefix="fluxsite-bench-gallery-") as data_dir:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "fluxsite.settings",
            "FLUXSITE_DATA_DIR": data_dir,
            "DJANGO_ALLOWED_HOSTS": "testserver",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.gallery", str(source_count)], cwd=ROOT, env=env, check=True,
            capture_output=True, text=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(small=100, large=10_000):
    return [measure(small), measure(large)]


if __name__ == "__main__":
    print(json.dumps(measure_in_this_process(int(sys.argv[1]))))
