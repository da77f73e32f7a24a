"""variations.metadata: copies without location or personal metadata, the pixels untouched; and
outputs stored without whatever EXIF WaveSpeed copied into them."""

import io

import pytest
from PIL import ExifTags, Image

from tests.factories import make_job
from tests.sharing.test_link_security import PERSONAL, assert_clean, photo_with_location
from variations import images, metadata
from variations.dispatcher.store import fetch_outputs
from variations.models import Status


def pixels(data):
    image = Image.open(io.BytesIO(data))
    return image.size, image.convert("RGB").tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_scrubbed_copy_has_the_same_pixels_and_none_of_the_personal_metadata(fmt):
    original = photo_with_location(fmt)
    assert all(secret in original for secret in PERSONAL[:3])

    clean = metadata.scrub(original)

    assert_clean(clean)
    assert pixels(clean) == pixels(original)
    assert Image.open(io.BytesIO(clean)).getexif()[ExifTags.Base.Make] == "Phone"


def test_a_progressive_jpeg_keeps_its_parameters_comment_and_every_scan():
    image = Image.effect_mandelbrot((300, 200), (-2, -1, 1, 1), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", progressive=True, quality=90, exif=Image.open(io.BytesIO(photo_with_location())).info["exif"])
    original = images.embed_parameters(out.getvalue(), "JPEG", {"seed": 7})

    clean = metadata.scrub(original)

    assert pixels(clean) == pixels(original)
    assert images.read_parameters(clean) == {"seed": 7}
    assert images.read_parameters(images.strip_parameters(clean)) is None
    assert_clean(clean)


def test_an_mpo_keeps_its_first_picture_only():
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((1, 2, 3), (200, 100, 0))]
    out = io.BytesIO()
    frames[0].save(out, "MPO", save_all=True, append_images=frames[1:], exif=Image.open(io.BytesIO(photo_with_location())).info["exif"])

    clean = metadata.scrub(out.getvalue())

    copy = Image.open(io.BytesIO(clean))
    assert copy.format == "JPEG" and getattr(copy, "n_frames", 1) == 1
    assert b"SERIAL-123456" not in clean


def test_a_file_the_parser_cannot_walk_is_drawn_again_and_garbage_gives_none():
    original = photo_with_location()
    broken = original[:2] + b"\xff\xe1\xff\xff" + original[2:]  # a segment claiming more bytes than there are

    redrawn = metadata.scrub(broken)

    assert redrawn is None or b"SERIAL-123456" not in redrawn
    assert metadata.scrub(b"\xff\xd8\xff\xe1\x00") is None


def test_a_jpeg_cut_short_in_its_image_data_is_kept_as_far_as_it_goes():
    original = photo_with_location()

    clean = metadata.scrub(original[: len(original) - 40])

    assert b"SERIAL-123456" not in clean and clean.startswith(b"\xff\xd8")


@pytest.mark.django_db
def test_outputs_are_stored_without_the_metadata_wavespeed_copied_into_them(member, source):
    job = make_job(source, member, status=Status.STORING)
    job.remote_output_urls = ["https://cdn.wavespeed.test/0.jpeg"]

    class Client:
        def download(self, url):
            return photo_with_location()

    stored, errors = fetch_outputs(Client(), job, set())

    assert errors == []
    with stored[0].image.open("rb") as kept:
        data = kept.read()
    assert_clean(data)
    assert images.read_parameters(data)["seed"] == job.seed
