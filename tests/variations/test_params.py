"""The FLUX.1 Redux [dev] parameters: defaults, every documented range edge, seeds and size presets."""

import re

import pytest
from pydantic import ValidationError

from variations.params import DEFAULTS, SEED_MAX, SIDE_MAX, SIDE_MIN, VariationParams, size_presets, validate


def errors_for(**values):
    params, errors = validate(values)
    assert params is None
    return errors


def test_defaults_are_the_documented_ones():
    params, errors = validate({})

    assert errors is None
    assert params.model_dump() == {
        "size": "1024*1024",
        "num_inference_steps": 28,
        "seed": None,
        "guidance_scale": 3.5,
        "num_images": 1,
        "enable_safety_checker": True,
        "output_format": "jpeg",
    }
    assert params.model_dump() == DEFAULTS


@pytest.mark.parametrize("size", ["256*256", "1536*1536", "256*1536", "1536*256", "1024*768"])
def test_sizes_within_range_are_accepted(size):
    params, errors = validate({"size": size})

    assert errors is None
    assert params.size == size


@pytest.mark.parametrize("size", ["255*1024", "1024*255", "1537*1024", "1024*1537", "100*100", "2048*2048"])
def test_sizes_out_of_range_are_refused(size):
    assert errors_for(size=size) == {"size": [f"each side must be between {SIDE_MIN} and {SIDE_MAX} pixels"]}


@pytest.mark.parametrize(
    "size",
    ["1024x1024", "1024", "1024*", "*1024", "a*b", "1024*1024*1024", "-512*512", "", "10240*1024", "１０２４*１０２４",
     "1024*1024\n1"],
)
def test_sizes_in_a_bad_format_are_refused(size):
    assert errors_for(size=size) == {"size": ["size must look like 1024*1024 (width*height)"]}


def test_size_that_is_not_text_is_refused():
    assert "size" in errors_for(size=1024)


@pytest.mark.parametrize("size", ["0512*0768", " 512*512 ", "512*512\n"])
def test_a_size_is_exactly_what_the_schema_pattern_says(size):
    """Leading zeros and spaces are refused, as the OpenAPI pattern refuses them (the form strips spaces)."""
    assert errors_for(size=size) == {"size": ["size must look like 1024*1024 (width*height)"]}


def test_the_schema_pattern_and_the_check_accept_the_same_sizes():
    pattern = re.compile(VariationParams.model_json_schema()["properties"]["size"]["pattern"])
    for width in range(0, 2000, 7):
        for height in (99, 255, 256, 1536, 1537, 1024):
            size = f"{width}*{height}"
            assert bool(pattern.search(size)) == (validate({"size": size})[1] is None), size


@pytest.mark.parametrize("field, value", [
    ("num_inference_steps", True), ("num_inference_steps", "28"), ("num_inference_steps", 2.5), ("seed", "42"),
    ("num_images", False), ("guidance_scale", "3.5"), ("guidance_scale", True), ("enable_safety_checker", 1),
    ("enable_safety_checker", "true"), ("size", 1024),
])
def test_the_api_takes_no_loose_types(field, value):
    """The JSON API validates strictly (VariationParams as is): `true` is not 1 step and "28" is not 28."""
    with pytest.raises(ValidationError) as refused:
        VariationParams.model_validate({field: value})

    assert [error["loc"] for error in refused.value.errors()] == [(field,)]


def test_the_api_takes_whole_numbers_written_with_a_point_as_json_schema_does():
    assert VariationParams.model_validate({"num_images": 4.0, "seed": 100.0}).num_images == 4


def test_the_pages_form_posts_text_and_is_read_with_the_same_ranges():
    params, errors = validate({"num_inference_steps": "28", "seed": "42", "guidance_scale": "3.5", "enable_safety_checker": "false"})

    assert errors is None and (params.num_inference_steps, params.seed, params.enable_safety_checker) == (28, 42, False)
    assert list(validate({"num_inference_steps": "51"})[1]) == ["num_inference_steps"]


@pytest.mark.parametrize("steps,ok", [(0, False), (1, True), (28, True), (50, True), (51, False), (2.5, False), ("x", False)])
def test_steps_range(steps, ok):
    params, errors = validate({"num_inference_steps": steps})

    assert (errors is None) == ok
    if ok:
        assert params.num_inference_steps == steps
    else:
        assert list(errors) == ["num_inference_steps"]


@pytest.mark.parametrize("seed,ok", [(-2, False), (-1, True), (0, True), (SEED_MAX, True), (SEED_MAX + 1, False), ("x", False)])
def test_seed_range(seed, ok):
    _, errors = validate({"seed": seed})

    assert (errors is None) == ok
    if not ok:
        assert list(errors) == ["seed"]


@pytest.mark.parametrize("seed", [None, -1])
def test_random_seed_is_resolved_to_a_concrete_one(seed):
    params, _ = validate({"seed": seed})

    drawn = {params.resolved()["seed"] for _ in range(20)}

    assert all(isinstance(value, int) and 0 <= value <= SEED_MAX for value in drawn)
    assert len(drawn) > 1  # drawn afresh each time, not a constant
    assert params.seed == seed  # the request itself is unchanged


def test_random_seed_is_drawn_over_the_whole_range(monkeypatch):
    calls = []

    def fake_randbelow(limit):
        calls.append(limit)
        return limit - 1

    monkeypatch.setattr("variations.params.secrets.randbelow", fake_randbelow)

    assert VariationParams().resolved()["seed"] == SEED_MAX
    assert calls == [SEED_MAX + 1]


@pytest.mark.parametrize("seed", [0, 7, SEED_MAX])
def test_concrete_seed_is_kept(seed):
    params, _ = validate({"seed": seed})

    assert params.resolved()["seed"] == seed


def test_resolved_carries_every_parameter():
    values = {"size": "512*768", "num_inference_steps": 10, "seed": 5, "guidance_scale": 7.5, "num_images": 3,
              "enable_safety_checker": False, "output_format": "png"}

    assert validate(values)[0].resolved() == values


@pytest.mark.parametrize(
    "guidance,ok",
    [(0.99, False), (1, True), (3.5, True), (20, True), (20.01, False), (float("inf"), False), (float("nan"), False)],
)
def test_guidance_range(guidance, ok):
    _, errors = validate({"guidance_scale": guidance})

    assert (errors is None) == ok
    if not ok:
        assert list(errors) == ["guidance_scale"]


@pytest.mark.parametrize("count,ok", [(0, False), (1, True), (4, True), (5, False)])
def test_num_images_range(count, ok):
    _, errors = validate({"num_images": count})

    assert (errors is None) == ok


@pytest.mark.parametrize("fmt,ok", [("jpeg", True), ("png", True), ("webp", False), ("JPEG", False), ("jpg", False), ("", False)])
def test_output_format(fmt, ok):
    _, errors = validate({"output_format": fmt})

    assert (errors is None) == ok
    if not ok:
        assert list(errors) == ["output_format"]


def test_unknown_field_is_refused_by_name():
    assert errors_for(prompt="a cat") == {"prompt": ["unknown field"]}


def test_enable_base64_output_is_not_a_choice():
    """Base64 outputs cannot be combined with webhooks and are never stored: the app does not offer them."""
    assert errors_for(enable_base64_output=True) == {"enable_base64_output": ["unknown field"]}


def test_every_bad_field_is_reported_at_once():
    errors = errors_for(size="1*1", num_inference_steps=99, num_images=0)

    assert set(errors) == {"size", "num_inference_steps", "num_images"}
    assert all(isinstance(message, str) and message for messages in errors.values() for message in messages)


@pytest.mark.parametrize(
    "width,height",
    [(1024, 1024), (1920, 1080), (1080, 1920), (640, 480), (3000, 2000), (300, 1000), (4000, 1000), (10000, 100), (100, 10000)],
)
def test_size_presets_are_valid_and_keep_the_aspect_ratio(width, height):
    presets = size_presets(width, height)

    assert presets
    assert len(presets) == len(set(presets))
    for preset in presets:
        assert validate({"size": preset})[1] is None, preset
    ratio = width / height
    if 1 / 6 <= ratio <= 6:  # any ratio a 256..1536 side pair can express
        for preset in presets:
            w, h = map(int, preset.split("*"))
            assert abs(w / h - ratio) / ratio < 0.1, preset


def test_size_presets_for_a_common_landscape_photo():
    assert size_presets(1920, 1080) == ["512*288", "768*432", "1024*576", "1280*720", "1536*864"]


def test_size_presets_for_a_square_reach_the_largest_size():
    assert size_presets(500, 500) == ["512*512", "768*768", "1024*1024", "1280*1280", "1536*1536"]


def test_size_presets_for_a_very_long_panorama_offer_the_closest_size():
    assert size_presets(10000, 100) == ["1536*256"]
    assert size_presets(100, 10000) == ["256*1536"]


def test_size_presets_leave_out_sizes_whose_short_side_would_be_too_small():
    assert size_presets(4000, 1000) == ["1024*256", "1280*320", "1536*384"]
