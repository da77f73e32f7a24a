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
RESAMPLE_SIDE = 512
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

    Everything is driven by (seed, index), so the same request renders the same bytes. Framing and tilt are one
    affine resample (at up to RESAMPLE_SIDE pixels) and the hue turn one colour matrix, so a 1024×1024 render
    costs about 25 ms: the simulator renders beside the app on the same cores, and a slow render would delay
    its answers (a 1024×1024 render was ~90 ms, enough to hold back webhooks when twenty finish at once).
    """
    dice = random.Random(f"{seed}:{index}")
    width, height = size
    angle = math.radians(dice.uniform(-MAX_ROTATION_DEGREES, MAX_ROTATION_DEGREES))
    # Zoom just enough that the tilted frame still lies inside the source, plus a little random crop.
    cover = math.cos(abs(angle)) + math.sin(abs(angle)) * max(width / height, height / width)
    zoom = cover * dice.uniform(1.02, 1.12)
    scale = 1 / (zoom * max(width / source.width, height / source.height))  # source pixels per output pixel
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    half_x = (abs(cos) * width + abs(sin) * height) / 2  # the tilted frame's half extent in the source
    half_y = (abs(sin) * width + abs(cos) * height) / 2
    centre_x = half_x + max(0.0, source.width - 2 * half_x) * dice.uniform(0.3, 0.7)
    centre_y = half_y + max(0.0, source.height - 2 * half_y) * dice.uniform(0.3, 0.7)
    # The resample runs at most RESAMPLE_SIDE pixels on the long side, then is scaled up: Pillow's affine
    # bilinear is several times slower per pixel than its resize.
    shrink = min(1.0, RESAMPLE_SIDE / max(size))
    work = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    image = source.transform(
        work,
        Image.Transform.AFFINE,
        (cos / shrink, -sin / shrink, centre_x - cos * width / 2 + sin * height / 2,
         sin / shrink, cos / shrink, centre_y - sin * width / 2 - cos * height / 2),
        Image.Resampling.BILINEAR,
    )
    if work != size:
        image = image.resize(size, Image.Resampling.BILINEAR)

    image = image.convert("RGB", hue_turn(dice.randrange(20, 236) * 2 * math.pi / 256))
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


def hue_turn(radians):
    """The colour matrix (Pillow's 12-tuple) that turns hues by `radians` and keeps luminance, as CSS hue-rotate."""
    cos, sin = math.cos(radians), math.sin(radians)
    rows = (
        (0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715, 0.072 - cos * 0.072 + sin * 0.928),
        (0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.140, 0.072 - cos * 0.072 - sin * 0.283),
        (0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715, 0.072 + cos * 0.928 + sin * 0.072),
    )
    return tuple(value for row in rows for value in (*row, 0))
