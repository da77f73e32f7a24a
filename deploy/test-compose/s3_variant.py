"""The stack again with media in object storage: moto's S3 server as a service of its own (`s3`), the
app pointed at it by the FLUXSITE_S3_* settings of docs/deploy.md."""

import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import boto3
import requests

from stack import Stack, free_port, picture

BUCKET = "fluxsite-media"
SETTINGS = f"""\
FLUXSITE_S3_BUCKET={BUCKET}
FLUXSITE_S3_ENDPOINT_URL=http://s3:5000
FLUXSITE_S3_ADDRESSING_STYLE=path
FLUXSITE_S3_REGION=us-east-1
FLUXSITE_S3_ACCESS_KEY_ID=compose-test
FLUXSITE_S3_SECRET_ACCESS_KEY=compose-test-secret
"""
SERVICE = """\
services:
  s3:
    build: {{context: deploy/test-compose, dockerfile: moto.Dockerfile}}
    image: fluxsite-test-moto:latest
    ports: ["127.0.0.1:{port}:5000"]
    healthcheck:
      test: ["CMD", "python", "-c", "import socket; socket.create_connection(('127.0.0.1', 5000), 2)"]
      interval: 2s
      retries: 30
  web:
    depends_on: {{s3: {{condition: service_healthy}}}}
  worker:
    depends_on: {{s3: {{condition: service_healthy}}}}
"""


def run(scenario, say):
    directory = scenario.work / "current"
    port = free_port()
    (directory / "s3.yml").write_text(SERVICE.format(port=port))
    (directory / ".env").write_text(scenario.env_text + SETTINGS)
    stack = scenario.stack = Stack(directory, scenario.stack.project, scenario.port, extra_files=("s3.yml",))
    stack.compose("up", "-d", "--build", "--wait", "s3")
    bucket = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="compose-test", aws_secret_access_key="compose-test-secret",
    )
    bucket.create_bucket(Bucket=BUCKET)
    stack.up()
    stack.create_admin()

    source = stack.upload(picture((90, 60, 200)))
    jobs = stack.create_jobs(source["id"], 3, size="512*512", num_images=2)
    done = stack.wait_until_done([job["id"] for job in jobs])
    assert {job["status"] for job in done.values()} == {"completed"}, done
    keys = stored_keys(bucket)
    # The source and its thumbnail, six outputs and their thumbnails: all in the bucket.
    assert len(keys) == 2 + 6 * 2, sorted(keys)

    stored = {digest_of(bucket, key) for key in keys}
    for job in done.values():
        for output in job["outputs"]:
            for url in (output["url"], output["thumbnail_url"]):
                assert hashlib.sha256(follow_signed_redirect(stack, url, port)).hexdigest() in stored, url
    say(f"     {len(keys)} objects in the bucket, every output served by a signed redirect to it")

    exported = stack.manage("archive", "--older-than", "0", "--export", "/tmp/galleries")
    assert "Exported 1," in exported, exported
    listing = stack.python_in("web", "import zipfile, glob; print(len(zipfile.ZipFile(glob.glob('/tmp/galleries/*.zip')[0]).namelist()))")
    assert int(listing) >= 1 + 6, listing  # the source, six outputs and the parameters

    response = stack.api("DELETE", f"/sources/{source['id']}")
    assert response.status_code in (200, 204), response.text
    deadline = time.monotonic() + 10
    while stored_keys(bucket) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not stored_keys(bucket), sorted(stored_keys(bucket))


def stored_keys(bucket):
    return [item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def digest_of(bucket, key):
    return hashlib.sha256(bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()).hexdigest()


def follow_signed_redirect(stack, url, port):
    """The app answers with a redirect to a signed URL on `s3:5000` (its name inside the stack); the
    same request goes to its published port here."""
    response = stack.get(url, allow_redirects=False)
    assert response.status_code == 302, (url, response.status_code)
    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert location.netloc == "s3:5000" and location.path.startswith(f"/{BUCKET}/"), location
    assert query.get("X-Amz-Signature") and query.get("X-Amz-Expires"), query
    fetched = requests.get(location._replace(netloc=f"127.0.0.1:{port}").geturl(), timeout=30)
    assert fetched.status_code == 200 and fetched.content, fetched.status_code
    return fetched.content
