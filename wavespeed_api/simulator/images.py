"""Source fetching and the cheap Pillow "variation" the simulator returns instead of a FLUX render."""

import base64
import io
import math
import random
import re

import requests
from PIL import Image, ImageOps, UnidentifiedImageError

FETCH_TIMEOUT = (3, 10)
MAX_SOURCE_BYTES = 30 * 1024 * 1024
MAX_ROTATION_DEGREES = 4.0
NOISE_TILE = 48
NOISE_OPACITY = 0.06
TINT_OPACITY = 0.15
DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,(.*)$", re.DOTALL)


class SourceUnavailable(Exception):
    """The `image` could not be fetched or decoded; the prediction fails with task code 1402."""


def fetch_source_bytes(url, read_local):
    """Bytes of the source image: `read_local(url)` for the simulator's own files, a data: URI, or an HTTP GET."""
    local = read_local(url)
    if local is not None:
        return local
    data_uri = DATA_URI.match(url)
    if data_uri:
        try:
            return base64.b64decode(data_uri[1], validate=True)
        except ValueError as exc:
            raise SourceUnavailable("the image data URI is not valid base64") from exc
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailable("image must be an http(s) URL or a data:image URI")
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise SourceUnavailable(f"fetching the image answered HTTP {response.status_code}")
            content = response.raw.read(MAX_SOURCE_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise SourceUnavailable(f"the image URL could not be fetched: {type(exc).__name__}") from exc
    if len(content) > MAX_SOURCE_BYTES:
        raise SourceUnavailable("the image is larger than 30 MB")
    return content


def decode_source(content, largest_output_side):
    """An RGB image no larger than the largest output side: renders stay cheap and waiting sources stay small."""
    bounds = (largest_output_side, largest_output_side)
    try:
        image = Image.open(io.BytesIO(content))
        image.draft("RGB", bounds)
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SourceUnavailable("the image could not be decoded") from exc
    image.thumbnail(bounds, Image.Resampling.BILINEAR)
    return image


def render_variation(source, size, output_format, seed, index):
    """Encoded bytes of a WxH image that is visibly `source` re-framed, tilted, re-coloured, tinted and grained.

    Everything is driven by (seed, index), so the same request renders the same bytes.
    """
    dice = random.Random(f"{seed}:{index}")
    width, height = size
    angle = dice.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES)
    # Zoom just enough that the tilted frame still covers the whole output, plus a little random crop.
    radians = math.radians(abs(angle))
    cover = math.cos(radians) + math.sin(radians) * max(width / height, height / width)
    zoom = cover * dice.uniform(1.02, 1.12)
    framed = ImageOps.fit(
        source,
        (math.ceil(width * zoom), math.ceil(height * zoom)),
        Image.Resampling.BILINEAR,
        centering=(dice.uniform(0.3, 0.7), dice.uniform(0.3, 0.7)),
    )
    tilted = framed.rotate(angle, Image.Resampling.BILINEAR)
    left, top = (tilted.width - width) // 2, (tilted.height - height) // 2
    image = tilted.crop((left, top, left + width, top + height))

    hue, saturation, value = image.convert("HSV").split()
    hue_shift = dice.randrange(20, 236)
    hue = hue.point(lambda h: (h + hue_shift) % 256)
    image = Image.merge("HSV", (hue, saturation, value)).convert("RGB")
    tint = Image.new("RGB", size, tuple(dice.randrange(256) for _ in range(3)))  # shows on grey sources too
    image = Image.blend(image, tint, TINT_OPACITY)

    noise = Image.frombytes("RGB", (NOISE_TILE, NOISE_TILE), dice.randbytes(NOISE_TILE * NOISE_TILE * 3))
    image = Image.blend(image, noise.resize(size, Image.Resampling.NEAREST), NOISE_OPACITY)

    buffer = io.BytesIO()
    if output_format == "png":
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
