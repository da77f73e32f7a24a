"""Image checks, thumbnails and embedded parameters, with Pillow.

Everything here works on bytes and never touches the database, so the dispatcher's threads can use it.
"""

import io
import json
import struct
import zlib
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

# Formats WaveSpeed reads as a source image. MPO is a JPEG with extra frames (phone cameras).
SOURCE_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF"}


class ImageRejected(ValueError):
    """The bytes are not an image this app takes; the message says why, for the person who sent them."""


@dataclass
class ImageInfo:
    width: int  # as displayed, after the EXIF orientation
    height: int
    format: str
    thumbnail: bytes  # WebP


def _open(data):
    if not data:
        raise ImageRejected("The file is empty.")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageRejected("The file is not an image (JPEG, PNG, WebP or GIF).") from None
    except Image.DecompressionBombError:
        raise ImageRejected("The image has too many pixels.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected(f"The image cannot be read: {exc}") from None
    return image


def inspect(data, max_pixels=None):
    """Check that `data` is a whole, readable image within the limits, and make its thumbnail.

    Decoding for the thumbnail is what proves the file is not truncated; JPEGs decode in draft
    mode (reduced size), so a 24-megapixel photo never needs a full decode.
    """
    max_pixels = max_pixels or settings.FLUXSITE_MAX_PIXELS
    image = _open(data)
    if image.format not in SOURCE_FORMATS:
        raise ImageRejected(f"{image.format} images are not supported; use JPEG, PNG, WebP or GIF.")
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(f"The image has {width}×{height} pixels; the limit is {max_pixels:,} pixels.")
    image_format = "JPEG" if image.format == "MPO" else image.format
    try:
        thumbnail = make_thumbnail(image)
        oriented = (height, width) if _rotated(image) else (width, height)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"The image is damaged or truncated: {exc}") from None
    return ImageInfo(width=oriented[0], height=oriented[1], format=image_format, thumbnail=thumbnail)


def _rotated(image):
    return image.getexif().get(0x0112, 1) in (5, 6, 7, 8)


# libwebp's effort (0-6): 2 encodes a 512 px thumbnail in less than half the CPU of 4 (8 ms against 18; the
# dispatcher makes one per output) for files about 3 % larger at the same quality.
THUMBNAIL_EFFORT = 2


def make_thumbnail(image, size=None):
    """A WebP at most `size` px on its longest side, upright, in RGB(A)."""
    size = size or settings.FLUXSITE_THUMBNAIL_PX
    if image.format in ("JPEG", "MPO"):
        image.draft("RGB", (size, size))
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode in ("P", "PA", "LA", "RGBA") and ("transparency" in image.info or image.mode in ("PA", "LA", "RGBA")):
        image = image.convert("RGBA")
    elif image.mode == "I;16" or image.mode.startswith("I"):
        image = image.point(lambda v: v / 256).convert("L").convert("RGB")
    elif image.mode != "RGB":
        image = image.convert("RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=82, method=THUMBNAIL_EFFORT)
    return out.getvalue()


def output_info(data, expected_format):
    """Check a downloaded output and make its thumbnail; returns (width, height, format, thumbnail)."""
    image = _open(data)
    if image.format not in ("JPEG", "PNG", "WEBP"):
        raise ImageRejected(f"WaveSpeed sent a {image.format} output, expected {expected_format}.")
    width, height = image.size
    thumbnail = make_thumbnail(image)
    return width, height, image.format, thumbnail


def embed_parameters(data, image_format, parameters):
    """Write the generation parameters into the file itself, without re-encoding it.

    JPEG gets a COM segment right after SOI; PNG gets a tEXt chunk "parameters" before IEND.
    Either way a file saved anywhere still tells how it was made.
    """
    text = json.dumps(parameters, sort_keys=True, separators=(",", ":")).encode()
    if image_format == "JPEG" and data[:2] == b"\xff\xd8" and len(text) < 65000:
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]
    if image_format == "PNG" and data[-12:-8] == b"\x00\x00\x00\x00" and data[-8:-4] == b"IEND":
        body = b"tEXt" + b"parameters\x00" + text
        chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        return data[:-12] + chunk + data[-12:]
    return data


def strip_parameters(data):
    """The file without what embed_parameters wrote (for share links that hide parameters); unchanged otherwise."""
    if data[:4] == b"\xff\xd8\xff\xfe":
        length = struct.unpack(">H", data[4:6])[0]
        return data[:2] + data[4 + length:]
    marker = data.rfind(b"tEXtparameters\x00")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and marker > 4:
        length = struct.unpack(">I", data[marker - 4:marker])[0]
        end = marker + 4 + length + 4
        if end == len(data) - 12:
            return data[:marker - 4] + data[end:]
    return data


def read_parameters(data):
    """The parameters embedded by embed_parameters, or None."""
    image = Image.open(io.BytesIO(data))
    image.load()  # PNG text chunks after the image data are read only on load
    raw = image.info.get("parameters") or image.info.get("comment")
    if not raw:
        return None
    return json.loads(raw)
