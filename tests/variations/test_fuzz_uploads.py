"""Generated upload files: whatever the bytes, POST /api/v1/sources answers 200/201 with a usable source or a
clear 400 with nothing stored, never a 500. A 100 MB body is refused without the server holding it in memory.

The hand-made cases (truncated, 0-byte, HTML/SVG disguised, bombs, animated GIF, CMYK, 16-bit, palette with
transparency, EXIF-rotated, wrong extensions) are in tests/variations/test_sources.py.
"""

import io
import os
import random
import time

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, assume, given, settings as hypothesis_settings, strategies as st
from PIL import Image

from tests.factories import make_image
from variations.models import Source

URL = "/api/v1/sources"
FUZZ = hypothesis_settings(
    max_examples=int(os.environ.get("FLUXSITE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAGIC = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"II*\x00", b"<svg", b"<html>"]


def stored_files(media_root):
    return sorted(p for p in media_root.rglob("*") if p.is_file()) if media_root.exists() else []


def upload(api, data, name):
    return api.post(URL, {"image": SimpleUploadedFile(name, data, content_type="application/octet-stream")})


def check_answer(api, media_root, data, name):
    """The properties every upload must have, whatever its bytes."""
    files_before, sources_before = stored_files(media_root), Source.objects.count()
    response = upload(api, data, name)
    assert response.status_code in (200, 201, 400), response.content[:300]
    body = response.json()
    if response.status_code == 400:
        assert body["errors"]["image"][0].strip()  # a message a person can read
        assert stored_files(media_root) == files_before  # nothing half-stored
        assert Source.objects.count() == sources_before
        return None
    source = Source.objects.get(pk=body["id"])
    assert (source.width, source.height) == (body["width"], body["height"])
    with source.thumbnail.open("rb") as fh:
        thumbnail = Image.open(fh)
        thumbnail.load()
        assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 512
    return source


@st.composite
def real_images(draw):
    """Encoded images of the formats the app takes, in assorted modes, sizes and options."""
    fmt = draw(st.sampled_from(["JPEG", "PNG", "WEBP", "GIF"]))
    modes = {"JPEG": ["RGB", "L", "CMYK"], "PNG": ["RGB", "RGBA", "L", "LA", "P", "I;16", "1"], "WEBP": ["RGB", "RGBA"], "GIF": ["P", "L"]}
    mode = draw(st.sampled_from(modes[fmt]))
    size = (draw(st.integers(1, 300)), draw(st.integers(1, 300)))
    image = Image.new(mode, size)
    rng = random.Random(draw(st.integers(0, 2**32)))
    if mode not in ("I;16", "1"):
        image.putdata([tuple(rng.randrange(256) for _ in image.getbands()) if len(image.getbands()) > 1 else rng.randrange(256)
                       for _ in range(min(size[0] * size[1], 2000))])
    out = io.BytesIO()
    options = {}
    if fmt == "JPEG":
        options = {"quality": draw(st.integers(1, 95)), "progressive": draw(st.booleans())}
    if fmt == "GIF" and draw(st.booleans()):
        options = {"save_all": True, "append_images": [image.copy()], "transparency": 0}
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.django_db
@FUZZ
@given(data=st.binary(max_size=4096), name=st.sampled_from(["a.jpg", "a.png", "a.gif", "a.webp", "a", "a.svg", "a.html"]))
def test_random_bytes_get_a_clear_400(api, private_media, data, name):
    assert check_answer(api, private_media, data, name) is None


@pytest.mark.django_db
@FUZZ
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=2048))
def test_a_right_signature_over_the_wrong_bytes_gets_a_clear_400(api, private_media, magic, tail):
    assert check_answer(api, private_media, magic + tail, "photo.jpg") is None


@pytest.mark.django_db
@FUZZ
@given(data=real_images())
def test_generated_images_are_kept_with_their_true_size(api, private_media, data):
    source = check_answer(api, private_media, data, "generated.png")
    assert source is not None
    with Image.open(io.BytesIO(data)) as original:
        assert (source.width, source.height) == original.size


@pytest.mark.django_db
@FUZZ
@given(data=real_images(), cut=st.floats(0.0, 0.98))
def test_truncated_images_are_refused_or_kept_whole(api, private_media, data, cut):
    check_answer(api, private_media, data[: int(len(data) * cut)], "cut.jpg")


@pytest.mark.django_db
@FUZZ
@given(data=real_images(), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_images_never_end_in_a_500(api, private_media, data, flips):
    corrupted = bytearray(data)
    for where, value in flips:
        corrupted[int(where * len(corrupted))] = value
    assume(bytes(corrupted) != data)
    check_answer(api, private_media, bytes(corrupted), "flipped.png")


# --- a 100 MB body against the real web server -----------------------------------------------------------------


class StreamedMultipart:
    """A multipart/form-data body with one `image` field of `size` zero bytes, produced while it is sent,
    so neither side of the test needs it in memory. `len()` gives requests its Content-Length."""

    boundary = "fluxsitefuzzboundary"

    def __init__(self, size, filename="huge.jpg"):
        self.parts = [
            (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\n"
             "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8\xff\xe0",
            size - 4,
            f"\r\n--{self.boundary}--\r\n".encode(),
        ]
        self.length = len(self.parts[0]) + self.parts[1] + len(self.parts[2])
        self.sent = 0

    def __len__(self):
        return self.length

    def read(self, size=-1):
        size = self.length - self.sent if size is None or size < 0 else min(size, self.length - self.sent)
        head, zeros, tail = self.parts
        chunk = bytearray()
        while len(chunk) < size:
            at = self.sent + len(chunk)
            if at < len(head):
                chunk += head[at : at + size - len(chunk)]
            elif at < len(head) + zeros:
                chunk += bytes(min(size - len(chunk), len(head) + zeros - at))
            else:
                offset = at - len(head) - zeros
                chunk += tail[offset : offset + size - len(chunk)]
        self.sent += len(chunk)
        return bytes(chunk)

    @property
    def content_type(self):
        return f"multipart/form-data; boundary={self.boundary}"


def peak_memory(pid):
    """The process's resident high-water mark (VmHWM) in bytes."""
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))


@pytest.mark.integration
def test_a_100_mb_body_is_refused_with_bounded_memory_and_nothing_stored(live_stack_factory):
    stack = live_stack_factory()
    stack.upload(make_image())  # the server has imported and warmed up everything an upload needs
    media_before = stored_files(stack.data_dir / "media")
    with open(f"/proc/{stack.web.pid}/clear_refs", "w") as fh:
        fh.write("5")  # reset the server's high-water mark to its present size
    before = peak_memory(stack.web.pid)

    body = StreamedMultipart(100 * 2**20)
    started = time.monotonic()
    response = requests.post(
        f"{stack.base_url}/api/v1/sources", data=body, timeout=120,
        headers={"Authorization": f"Bearer {stack.token}", "Content-Type": body.content_type},
    )

    assert response.status_code in (400, 413), response.text[:300]
    if response.status_code == 400:
        assert "limit" in response.json()["errors"]["image"][0]
    grown = peak_memory(stack.web.pid) - before
    assert grown < 40 * 2**20, f"the web server grew by {grown / 2**20:.0f} MB for a 100 MB upload"
    assert stored_files(stack.data_dir / "media") == media_before
    assert time.monotonic() - started < 60
