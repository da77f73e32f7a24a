"""POST /api/v1/sources: what is kept, what is refused (with nothing left behind), and who may see the files."""

import hashlib
import io
import os
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from tests.factories import make_image
from variations.models import Source

URL = "/api/v1/sources"


def upload(api, data, name="image.jpg", content_type="application/octet-stream"):
    return api.post(URL, {"image": SimpleUploadedFile(name, data, content_type=content_type)})


def stored_files(media_root):
    return sorted(path for path in media_root.rglob("*") if path.is_file()) if media_root.exists() else []


def body_of(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def png_header_only(width, height):
    """A tiny PNG whose header claims `width`×`height` pixels: a decompression bomb in a few bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def encode(image, fmt, **save_args):
    out = io.BytesIO()
    image.save(out, fmt, **save_args)
    return out.getvalue()


# --- accepted -------------------------------------------------------------------------------------


def test_upload_creates_a_source(api, image_bytes):
    data = image_bytes("JPEG", size=(640, 480))

    response = upload(api, data, "photo.jpg", "image/jpeg")

    assert response.status_code == 201
    body = response.json()
    assert body["width"] == 640 and body["height"] == 480
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["format"] == "JPEG"
    source = Source.objects.get(pk=body["id"])
    assert body["url"].endswith(f"/media/sources/{source.pk}")
    assert body["thumbnail_url"].endswith(f"/media/sources/{source.pk}/thumbnail")
    with source.image.open("rb") as fh:
        assert fh.read() == data  # the original bytes, not a re-encoding


def test_identical_bytes_give_the_existing_source(api, image_bytes, private_media):
    data = image_bytes("PNG", size=(300, 200))
    first = upload(api, data, "a.png")
    files_after_first = stored_files(private_media)

    second = upload(api, data, "renamed.png")

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert Source.objects.count() == 1
    assert stored_files(private_media) == files_after_first


def test_thumbnail_is_a_webp_of_at_most_512_px(api, image_bytes):
    body = upload(api, image_bytes("JPEG", size=(2000, 1000))).json()

    response = api.get(body["thumbnail_url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    thumbnail = Image.open(io.BytesIO(body_of(response)))
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == (512, 256)


def animated_gif():
    frames = [Image.new("P", (120, 80), color) for color in (1, 50, 100)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def cmyk_jpeg():
    return encode(Image.new("CMYK", (200, 100), (0, 128, 255, 10)), "JPEG")


def png_16_bit():
    image = Image.new("I;16", (200, 100))
    image.putdata([(x * 300) % 65536 for x in range(200 * 100)])
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    return data


def palette_png_with_transparency():
    image = Image.new("RGB", (200, 100), (255, 0, 0)).convert("P")
    return encode(image, "PNG", transparency=0)


@pytest.mark.parametrize(
    "make,fmt,size",
    [
        (animated_gif, "GIF", (120, 80)),
        (cmyk_jpeg, "JPEG", (200, 100)),
        (png_16_bit, "PNG", (200, 100)),
        (palette_png_with_transparency, "PNG", (200, 100)),
        (lambda: make_image("WEBP", size=(200, 100)), "WEBP", (200, 100)),
    ],
    ids=["animated-gif", "cmyk-jpeg", "16-bit-png", "palette-png-transparent", "webp"],
)
def test_unusual_but_valid_images_are_accepted(api, make, fmt, size):
    response = upload(api, make())

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["width"], body["height"]) == (fmt, *size)
    thumbnail = Image.open(io.BytesIO(body_of(api.get(body["thumbnail_url"]))))
    assert thumbnail.format == "WEBP"
    assert thumbnail.size == size


def test_exif_rotated_jpeg_reports_its_upright_size(api):
    image = Image.new("RGB", (640, 480), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(image, "JPEG", exif=exif)

    body = upload(api, data).json()

    assert (body["width"], body["height"]) == (480, 640)
    thumbnail = Image.open(io.BytesIO(body_of(api.get(body["thumbnail_url"]))))
    assert thumbnail.size == (384, 512)  # upright, like the size reported


def test_png_named_jpg_is_accepted_as_png(api, image_bytes):
    response = upload(api, image_bytes("PNG", size=(300, 200)), "holiday.jpg", "image/jpeg")

    assert response.status_code == 201
    assert response.json()["format"] == "PNG"
    media = api.get(response.json()["url"])
    assert media["Content-Type"] == "image/png"


# --- refused, with nothing left behind ------------------------------------------------------------


def html_page():
    return b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def svg_image():
    return b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><rect/></svg>'


def cut_in_half(data):
    """An upload that broke off half way."""
    return data[: len(data) // 2]


BAD_INPUTS = {
    "empty": (lambda: b"", "empty"),
    "truncated-jpeg": (lambda: cut_in_half(make_image("JPEG", size=(640, 480))), "truncated"),
    "truncated-png": (lambda: cut_in_half(make_image("PNG", size=(640, 480))), "truncated"),
    "plain-text": (lambda: b"just some words, not a picture\n" * 10, "not an image"),
    "html-as-jpg": (html_page, "not an image"),
    "svg": (svg_image, "not an image"),
    "bomb-huge": (lambda: png_header_only(100_000, 100_000), "too many pixels"),
    "bomb-over-setting": (lambda: png_header_only(10_000, 10_000), "limit is 64,000,000 pixels"),
    "tiff": (lambda: make_image("TIFF", size=(100, 100)), "TIFF images are not supported"),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_images_are_refused_clearly_and_leave_nothing(api, private_media, name):
    make, expected = BAD_INPUTS[name]

    response = upload(api, make(), "upload.jpg", "image/jpeg")

    assert response.status_code == 400
    messages = response.json()["errors"]["image"]
    assert len(messages) == 1
    assert expected in messages[0]
    assert Source.objects.count() == 0
    assert stored_files(private_media) == []


def test_pixel_limit_follows_the_setting(api, settings, image_bytes, private_media):
    settings.FLUXSITE_MAX_PIXELS = 100_000

    refused = upload(api, image_bytes("PNG", size=(400, 300)))
    accepted = upload(api, image_bytes("PNG", size=(300, 300)))

    assert refused.status_code == 400
    assert "400×300" in refused.json()["errors"]["image"][0]
    assert accepted.status_code == 201
    assert Source.objects.count() == 1


def test_file_over_the_upload_limit_is_refused(api, settings, private_media):
    settings.FLUXSITE_MAX_UPLOAD_BYTES = 5_000
    data = encode(Image.frombytes("L", (100, 100), os.urandom(100 * 100)), "PNG")  # noise: does not compress
    assert len(data) > 5_000

    response = upload(api, data)

    assert response.status_code == 400
    assert response.json()["errors"]["image"] == [f"The file is {len(data) / 1024:.1f} KB, over the 4.9 KB limit."]
    assert Source.objects.count() == 0
    assert stored_files(private_media) == []


def test_file_at_the_upload_limit_is_accepted(api, settings, image_bytes):
    data = image_bytes("JPEG", size=(64, 64))
    settings.FLUXSITE_MAX_UPLOAD_BYTES = len(data)

    assert upload(api, data).status_code == 201


def test_missing_image_field_is_refused(api, image_bytes):
    response = api.post(URL, {"picture": SimpleUploadedFile("a.jpg", image_bytes())})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["image"]
    assert Source.objects.count() == 0


def test_json_instead_of_multipart_is_refused(api):
    response = api.post(URL, {"image": "https://example.com/a.jpg"}, content_type="application/json")

    assert response.status_code == 400
    assert Source.objects.count() == 0


def test_upload_needs_authentication(db, image_bytes):
    response = Client().post(URL, {"image": SimpleUploadedFile("a.jpg", image_bytes())})

    assert response.status_code == 401
    assert Source.objects.count() == 0


# --- media access ---------------------------------------------------------------------------------


@pytest.fixture
def source_urls(api, image_bytes):
    body = upload(api, image_bytes("JPEG", size=(640, 480))).json()
    return body["url"], body["thumbnail_url"]


@pytest.mark.parametrize("which,content_type", [(0, "image/jpeg"), (1, "image/webp")], ids=["file", "thumbnail"])
def test_media_with_a_token(api, source_urls, which, content_type):
    response = api.get(source_urls[which])

    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert Image.open(io.BytesIO(body_of(response))).format == content_type.split("/")[1].upper()
    assert "private" in response["Cache-Control"]


@pytest.mark.parametrize("which", [0, 1], ids=["file", "thumbnail"])
def test_media_refuses_anonymous_and_wrong_tokens(source_urls, which):
    anonymous = Client().get(source_urls[which])
    wrong = Client(HTTP_AUTHORIZATION="Bearer fxs_not-a-real-token").get(source_urls[which])

    assert anonymous.status_code == 401
    assert wrong.status_code == 401


def test_media_accepts_the_bearer_scheme_in_any_case(source_urls, member_token):
    assert Client(HTTP_AUTHORIZATION=f"bearer {member_token}").get(source_urls[0]).status_code == 200


def test_media_with_a_session(source_urls, colleague):
    client = Client()
    client.force_login(colleague)

    assert client.get(source_urls[0]).status_code == 200
    assert client.get(source_urls[1]).status_code == 200


def test_media_of_an_unknown_source(api, db):
    unknown = "/media/sources/00000000-0000-0000-0000-000000000000"

    assert api.get(unknown).status_code == 404
    assert api.get(unknown + "/thumbnail").status_code == 404
    assert Client().get(unknown).status_code == 401  # anonymous learns nothing, not even that it is unknown


def test_media_download_names_the_file(api, source_urls):
    response = api.get(source_urls[0] + "?download")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="image.jpg"'  # its title: the uploaded file's name


def test_media_refuses_writes(api, source_urls):
    assert api.post(source_urls[0]).status_code == 405


def test_source_detail(api, source_urls):
    source = Source.objects.get()

    response = api.get(f"{URL}/{source.pk}")

    assert response.status_code == 200
    assert response.json()["sha256"] == source.sha256
    assert api.get(f"{URL}/00000000-0000-0000-0000-000000000000").status_code == 404
