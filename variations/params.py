"""What people send about jobs and sources, validated in this one place for the JSON API and the pages alike:
the FLUX.1 Redux [dev] parameters and a source's title (the library's filters are in variations.search)."""

import re
import secrets
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SIDE_MIN, SIDE_MAX = 256, 1536
TITLE_MAX = 200
SEED_MAX = 2_147_483_647
SIZE_PATTERN = re.compile(r"^([0-9]{3,4})\*([0-9]{3,4})$")

DEFAULTS = {
    "size": "1024*1024",
    "num_inference_steps": 28,
    "seed": None,
    "guidance_scale": 3.5,
    "num_images": 1,
    "enable_safety_checker": True,
    "output_format": "jpeg",
}

# One-click starting points on the pages. For FLUX Redux the guidance scale is how closely the image
# follows its conditioning, which is the source image: higher stays closer, lower varies more. Both
# stay within 1.5..8, where FLUX dev still looks natural.
PRESETS = {
    "subtle": {"guidance_scale": 6.0, "num_inference_steps": 28},
    "strong": {"guidance_scale": 2.0, "num_inference_steps": 28},
}
MEGAPIXEL = 1024 * 1024


class VariationParams(BaseModel):
    """What a person may choose for a Variation job; ranges as WaveSpeed documents them."""

    model_config = ConfigDict(extra="forbid")

    size: str = Field(DEFAULTS["size"], description="Output size as W*H, each side 256..1536", examples=["1024*1024"])
    num_inference_steps: int = Field(DEFAULTS["num_inference_steps"], ge=1, le=50)
    seed: int | None = Field(None, ge=-1, le=SEED_MAX, description="-1 or null: the app draws one and records it")
    guidance_scale: float = Field(
        DEFAULTS["guidance_scale"], ge=1, le=20, description="Closeness to the source: higher stays closer, lower varies more"
    )
    num_images: int = Field(DEFAULTS["num_images"], ge=1, le=4)
    enable_safety_checker: bool = DEFAULTS["enable_safety_checker"]
    output_format: Literal["jpeg", "png"] = DEFAULTS["output_format"]

    @field_validator("size")
    @classmethod
    def _size_in_range(cls, value):
        match = SIZE_PATTERN.match(value.strip())
        if not match:
            raise ValueError("size must look like 1024*1024 (width*height)")
        width, height = map(int, match.groups())
        if not (SIDE_MIN <= width <= SIDE_MAX and SIDE_MIN <= height <= SIDE_MAX):
            raise ValueError(f"each side must be between {SIDE_MIN} and {SIDE_MAX} pixels")
        return f"{width}*{height}"

    def resolved(self):
        """The parameters with a concrete seed, as stored on the job and sent to WaveSpeed."""
        values = self.model_dump()
        if values["seed"] is None or values["seed"] == -1:
            values["seed"] = secrets.randbelow(SEED_MAX + 1)
        return values


class SourceChanges(BaseModel):
    """A source's editable fields: its title, 1 to 200 characters once surrounding spaces are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=TITLE_MAX)


def errors_by_field(error_list):
    """Pydantic's error list as {field: [message]}, the shape the API and the forms show."""
    errors = {}
    for item in error_list:
        field = ".".join(str(part) for part in item["loc"]) or "__all__"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        errors.setdefault(field, []).append(message)
    return errors


def validate(data):
    """Validate a dict of parameters: returns (VariationParams, None) or (None, {field: [message]})."""
    try:
        return VariationParams.model_validate(data), None
    except ValidationError as exc:
        return None, errors_by_field(exc.errors())


def size_presets(width, height):
    """Sizes that keep a source's aspect ratio, from small to the largest WaveSpeed allows.

    A size whose short side would fall under SIDE_MIN is left out, since clamping it would change
    the ratio; a source longer than 6:1 gets only the closest size there is.
    """
    ratio = max(width, height) / min(width, height)
    presets = []
    for long_side in (512, 768, 1024, 1280, SIDE_MAX):
        short_side = round(long_side / ratio / 16) * 16
        if short_side >= SIDE_MIN:
            presets.append((long_side, short_side))
    if not presets:
        presets.append((SIDE_MAX, SIDE_MIN))
    return [f"{long}*{short}" if width >= height else f"{short}*{long}" for long, short in presets]


def default_size(width, height):
    """The size a new job on this source starts with: its aspect ratio at about one megapixel.

    One of size_presets (so it is one of the form's chips), the one whose area is nearest a megapixel.
    """
    return min(size_presets(width, height), key=lambda size: abs(_area(size) - MEGAPIXEL))


def _area(size):
    width, height = map(int, size.split("*"))
    return width * height
