"""What people send about jobs and sources, validated in this one place for the JSON API and the pages alike:
the FLUX.1 Redux [dev] parameters and a source's title (the library's filters are in variations.search)."""

import re
import secrets
from typing import Literal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

SIDE_MIN, SIDE_MAX = 256, 1536
TITLE_MAX = 200
SEED_MAX = 2_147_483_647
SIZE_FORMAT = re.compile(r"([1-9][0-9]{2,3})\*([1-9][0-9]{2,3})")
# The same rule as SIZE_FORMAT plus the range check, as one pattern for the OpenAPI schema: 256..1536.
SIDE_PATTERN = r"(?:25[6-9]|2[6-9][0-9]|[3-9][0-9]{2}|1[0-4][0-9]{2}|15[0-2][0-9]|153[0-6])"

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


def _size_in_range(value):
    match = SIZE_FORMAT.fullmatch(value)
    if not match:
        raise ValueError("size must look like 1024*1024 (width*height)")
    if not all(SIDE_MIN <= int(side) <= SIDE_MAX for side in match.groups()):
        raise ValueError(f"each side must be between {SIDE_MIN} and {SIDE_MAX} pixels")
    return value


def _whole(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole(ge=None, le=None, **field):
    """An integer from `ge` to `le`. 4.0 is the integer 4, as JSON Schema says, so a client generated from
    the schema may send it; true, "4" and 4.5 stay refused (strict). The range comes before the
    conversion in the annotation, so the schema shows it as minimum and maximum."""
    return Annotated[int, Field(ge=ge, le=le, **field), BeforeValidator(_whole)]

# Each parameter's range and type, once, for the parameters, the re-run's overrides and the form's limits.
LIMITS = {"num_inference_steps": (1, 50), "seed": (-1, SEED_MAX), "guidance_scale": (1, 20), "num_images": (1, 4)}
Size = Annotated[str, AfterValidator(_size_in_range), WithJsonSchema({
    "type": "string", "pattern": f"^{SIDE_PATTERN}\\*{SIDE_PATTERN}$", "examples": ["1024*1024"],
    "description": f"Output size as W*H, each side {SIDE_MIN}..{SIDE_MAX}",
})]
Steps = whole(*LIMITS["num_inference_steps"])
Seed = whole(*LIMITS["seed"], description="-1 or null: the app draws one and records it")
Guidance = Annotated[float, Field(
    ge=LIMITS["guidance_scale"][0], le=LIMITS["guidance_scale"][1],
    description="Closeness to the source: higher stays closer, lower varies more",
)]
ImageCount = whole(*LIMITS["num_images"])
OutputFormat = Literal["jpeg", "png"]


class VariationParams(BaseModel):
    """What a person may choose for a Variation job; ranges as WaveSpeed documents them.

    Strict, as the JSON API needs: `true` is not 1 step and "28" is not 28. The pages post text, so
    `validate()` reads numbers from it (lax), then the same ranges apply.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    size: Size = DEFAULTS["size"]
    num_inference_steps: Steps = DEFAULTS["num_inference_steps"]
    seed: Seed | None = None
    guidance_scale: Guidance = DEFAULTS["guidance_scale"]
    num_images: ImageCount = DEFAULTS["num_images"]
    enable_safety_checker: bool = DEFAULTS["enable_safety_checker"]
    output_format: OutputFormat = DEFAULTS["output_format"]

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


class VariationOverrides(BaseModel):
    """Any parameter to change for a re-run, with the same types and ranges; without `seed` a new one is drawn."""

    model_config = ConfigDict(extra="forbid", strict=True)

    size: Size | None = None
    num_inference_steps: Steps | None = None
    seed: Seed | None = None
    guidance_scale: Guidance | None = None
    num_images: ImageCount | None = None
    enable_safety_checker: bool | None = None
    output_format: OutputFormat | None = None


def validate(data):
    """Validate a dict of parameters, numbers given as text too (the pages' forms): returns
    (VariationParams, None) or (None, {field: [message]})."""
    try:
        return VariationParams.model_validate(data, strict=False), None
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
