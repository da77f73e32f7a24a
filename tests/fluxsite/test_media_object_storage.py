"""Media in a private S3 bucket: the app checks who asks, then redirects to a short-lived signed URL.

URLs are signed locally by botocore: no bucket is needed to test them."""

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config

from variations.models import Output, Source, Variation

pytestmark = pytest.mark.django_db

S3_OPTIONS = {
    "bucket_name": "studio-media",
    "endpoint_url": "http://s3.test:9000",
    "access_key": "test-access",
    "secret_key": "test-secret",
    "region_name": "eu-west-1",
    "client_config": Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    "default_acl": None,
    "querystring_auth": True,
    "querystring_expire": 120,
}


@pytest.fixture
def s3_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_OPTIONS}}


@pytest.fixture
def output(s3_storage, member):
    """Rows whose files live in the bucket (never written here: only their names matter)."""
    sha = hashlib.sha256(b"source").hexdigest()
    source = Source.objects.create(
        sha256=sha, image=f"sources/{sha[:2]}/{sha}.jpg", thumbnail=f"thumbnails/sources/{sha[:2]}/{sha}.webp",
        width=640, height=480, format="JPEG", byte_size=1000, uploaded_by=member,
    )
    job = Variation.objects.create(source=source, owner=member, seed=5, status="completed")
    return Output.objects.create(
        variation=job, index=0, image=f"outputs/{job.pk.hex[:2]}/{job.pk.hex}-0.png",
        thumbnail=f"thumbnails/outputs/{job.pk.hex[:2]}/{job.pk.hex}-0.webp", width=1024, height=1024, format="PNG", byte_size=5,
    )


def signed(response):
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    return url, {name: values[0] for name, values in parse_qs(url.query).items()}


def test_a_signed_in_person_is_redirected_to_a_short_lived_signed_url(client, member, output):
    client.force_login(member)
    url, query = signed(client.get(f"/media/outputs/{output.pk}"))
    assert (url.scheme, url.netloc) == ("http", "s3.test:9000")
    assert url.path == f"/studio-media/{output.image.name}"
    assert query["X-Amz-Expires"] == "120"
    assert query["X-Amz-Signature"]
    assert query["response-content-type"] == "image/png"
    assert "test-secret" not in url.geturl()


def test_the_redirect_is_cached_privately_for_part_of_the_signatures_life(client, member, output):
    client.force_login(member)
    response = client.get(f"/media/outputs/{output.pk}/thumbnail")
    _, query = signed(response)
    assert query["response-content-type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=60"


def test_downloads_keep_their_file_name(client, member_token, output):
    url, query = signed(client.get(f"/media/outputs/{output.pk}?download", HTTP_AUTHORIZATION=f"Bearer {member_token}"))
    assert query["response-content-disposition"] == f'attachment; filename="variation-{output.variation_id.hex[:8]}-0.png"'


def test_sources_are_signed_the_same_way(client, member, output):
    client.force_login(member)
    url, _ = signed(client.get(f"/media/sources/{output.variation.source_id}"))
    assert url.path == f"/studio-media/{output.variation.source.image.name}"


def test_nobody_else_gets_a_url(client, output):
    response = client.get(f"/media/outputs/{output.pk}")
    assert response.status_code == 401
    assert "Location" not in response
    response = client.get(f"/media/outputs/{output.pk}", HTTP_AUTHORIZATION="Bearer fxs_not-a-token")
    assert response.status_code == 401 and "Location" not in response
