"""Media in object storage for real: the whole pipeline against moto's standalone S3 server on 127.0.0.1.

A live stack (web server, qcluster, the simulator) with FLUXSITE_S3_* pointing at a private bucket:
uploads and outputs are written to the bucket, pages and the API answer with signed redirects to
it, the gallery zip and `manage.py archive` read from it, deleting a source removes its objects, and
`archive import` writes them back. Runs in `make test-scale` (with the other live multi-process tests).
"""

import io
import re
import socket
import subprocess
import sys
import time
import zipfile
from urllib.parse import parse_qs, urljoin, urlsplit

import boto3
import pytest
import requests

from tests.factories import make_image
from tests.live import LiveStack, free_port

pytestmark = [pytest.mark.scale, pytest.mark.integration]

BUCKET = "studio-media"
KEYS = {"aws_access_key_id": "moto-access", "aws_secret_access_key": "moto-secret", "region_name": "eu-west-1"}


@pytest.fixture
def s3_endpoint(tmp_path):
    """moto's S3 server as its own process on a free loopback port; stopped after the test."""
    port = free_port()
    log = open(tmp_path / "moto.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("moto's S3 server did not start: " + (tmp_path / "moto.log").read_text()[-2000:])
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(10)
    log.close()


@pytest.fixture
def bucket(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, **KEYS)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": KEYS["region_name"]})
    return client


@pytest.fixture
def stack(tmp_path, simulator, s3_endpoint, bucket):
    simulator.config.per_minute = 0
    live = LiveStack(
        tmp_path / "data", simulator,
        FLUXSITE_S3_BUCKET=BUCKET, FLUXSITE_S3_ENDPOINT_URL=s3_endpoint, FLUXSITE_S3_ADDRESSING_STYLE="path",
        FLUXSITE_S3_REGION=KEYS["region_name"], FLUXSITE_S3_ACCESS_KEY_ID=KEYS["aws_access_key_id"],
        FLUXSITE_S3_SECRET_ACCESS_KEY=KEYS["aws_secret_access_key"], FLUXSITE_S3_URL_SECONDS=120,
        WAVESPEED_MAX_PER_MINUTE=0,
    ).start()
    yield live
    live.stop()


def objects(bucket):
    """{key: bytes} of everything in the bucket."""
    listing = bucket.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: bucket.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read() for item in listing}


def follow(response, s3_endpoint):
    """A signed redirect to the bucket, followed: the bytes it gives."""
    assert response.status_code == 302, (response.url, response.status_code)
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}" == s3_endpoint and location.path.startswith(f"/{BUCKET}/")
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"] and query["X-Amz-Credential"]
    fetched = requests.get(response.headers["Location"], timeout=10)
    assert fetched.status_code == 200
    return fetched.content


def signed_in(stack):
    """A browser session of the stack's user (its pages need one)."""
    session = requests.Session()
    login = stack.base_url + "/accounts/login/"
    session.get(login, timeout=10)
    response = session.post(
        login, data={"username": "alice", "password": "pw-alice-1234", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": login}, timeout=10,
    )
    assert response.status_code == 200 and "sessionid" in session.cookies, response.status_code
    return session


def test_the_pipeline_stores_serves_exports_deletes_and_restores_through_the_bucket(stack, bucket, s3_endpoint, tmp_path):
    source = stack.upload(make_image(size=(640, 480), color=(10, 200, 90)), name="beach.png")
    jobs = stack.create_jobs(source["id"], 2, size="512*512", num_images=2)
    done = stack.wait_until_done(jobs)
    assert {job["status"] for job in done.values()} == {"completed"}

    stored = objects(bucket)
    prefixes = sorted(key.split("/")[0] + ("/" + key.split("/")[1] if key.startswith("thumbnails/") else "") for key in stored)
    assert prefixes == ["outputs"] * 4 + ["sources"] + ["thumbnails/outputs"] * 4 + ["thumbnails/sources"], sorted(stored)
    assert not list((tmp_path / "data").rglob("media/*/*"))  # nothing written to local disk

    # The API: every output, its thumbnail and the source are signed redirects to the bucket's own bytes.
    headers = {"Authorization": f"Bearer {stack.token}"}
    urls = [source["url"], source["thumbnail_url"]]
    urls += [url for job in done.values() for output in job["outputs"] for url in (output["url"], output["thumbnail_url"])]
    for url in urls:
        served = follow(requests.get(urljoin(stack.base_url, url), headers=headers, allow_redirects=False, timeout=10), s3_endpoint)
        assert served in stored.values(), url

    # The gallery page links the same media; the zip is built from the bucket.
    session = signed_in(stack)
    page = session.get(f"{stack.base_url}/sources/{source['id']}/", timeout=10)
    tiles = re.sub(r"<template.*?</template>", "", page.text, flags=re.DOTALL)  # the tile menu's placeholder links
    media = set(re.findall(r'/media/outputs/[0-9a-f-]+(?:/thumbnail)?', tiles))
    assert len(media) >= 4, page.text[:500]
    for url in media:
        assert follow(session.get(stack.base_url + url, allow_redirects=False, timeout=10), s3_endpoint) in stored.values()
    bundle = session.get(f"{stack.base_url}/sources/{source['id']}/download.zip", timeout=30)
    assert bundle.status_code == 200
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        zipped = [archive.read(name) for name in archive.namelist() if name.startswith("outputs/")]
    assert len(zipped) == 4 and all(data in stored.values() for data in zipped)

    # `manage.py archive` exports from the bucket; deleting the source empties it; import fills it again.
    exported = stack.manage("archive", "--all", "--export", str(tmp_path / "export")).stdout
    assert "Exported 1, deleted 0 galleries." in exported
    response = requests.delete(f"{stack.base_url}/api/v1/sources/{source['id']}", headers=headers, timeout=10)
    assert response.status_code in (200, 204), response.text
    assert objects(bucket) == {}
    imported = stack.manage("archive", "import", str(tmp_path / "export")).stdout
    assert "4 outputs added" in imported, imported
    back = objects(bucket)
    assert sorted(data for key, data in back.items() if key.startswith(("outputs/", "sources/"))) == sorted(
        data for key, data in stored.items() if key.startswith(("outputs/", "sources/"))
    )
    job = requests.get(f"{stack.base_url}/api/v1/variations/{jobs[0]}", headers=headers, timeout=10).json()
    assert job["status"] == "completed" and len(job["outputs"]) == 2
    assert follow(requests.get(urljoin(stack.base_url, job["outputs"][0]["url"]), headers=headers, allow_redirects=False, timeout=10), s3_endpoint) in back.values()
