"""Checks request bodies against WaveSpeed's documented FLUX Redux [dev] parameter table; 400s name the field."""

import re

SIZE_PATTERN = re.compile(r"^(\d+)\*(\d+)$")
MIN_SIDE, MAX_SIDE = 256, 1536
MAX_SEED = 2147483647
OUTPUT_FORMATS = ("jpeg", "png")
PREDICTION_STATUSES = ("created", "processing", "completed", "failed", "cancelled", "timeout")


class InvalidRequest(Exception):
    """A 400: the message names the offending field."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_in(name, value, low, high):
    if not _is_int(value):
        raise InvalidRequest(f"{name} must be an integer")
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}")
    return value


def _bool(name, value):
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name} must be a boolean")
    return value


def _size(value):
    match = SIZE_PATTERN.match(value) if isinstance(value, str) else None
    if not match:
        raise InvalidRequest('size must be a string "W*H"')
    width, height = int(match[1]), int(match[2])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InvalidRequest(f"size: width and height must each be between {MIN_SIDE} and {MAX_SIDE}")
    return width, height


def _guidance_scale(value):
    if not _is_number(value):
        raise InvalidRequest("guidance_scale must be a number")
    if not 1 <= value <= 20:
        raise InvalidRequest("guidance_scale must be between 1 and 20")
    return value


def _output_format(value):
    if value not in OUTPUT_FORMATS:
        raise InvalidRequest(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}")
    return value


def _require_object(body):
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")


FIELD_RULES = {
    "size": ("1024*1024", _size),
    "num_inference_steps": (28, lambda v: _int_in("num_inference_steps", v, 1, 50)),
    "seed": (-1, lambda v: _int_in("seed", v, -1, MAX_SEED)),
    "guidance_scale": (3.5, _guidance_scale),
    "num_images": (1, lambda v: _int_in("num_images", v, 1, 4)),
    "enable_safety_checker": (True, lambda v: _bool("enable_safety_checker", v)),
    "output_format": ("jpeg", _output_format),
    "enable_base64_output": (False, lambda v: _bool("enable_base64_output", v)),
    "enable_sync_mode": (False, lambda v: _bool("enable_sync_mode", v)),
}


def validate_submission(body, webhook_url):
    """The normalised parameters of a submit (size becomes a (width, height) tuple), or InvalidRequest."""
    _require_object(body)
    image = body.get("image")
    if image is None:
        raise InvalidRequest("image is required")
    if not isinstance(image, str) or not image.strip():
        raise InvalidRequest("image must be a non-empty string")
    params = {"image": image}
    for name, (default, check) in FIELD_RULES.items():
        params[name] = check(body.get(name, default))
    if params["enable_base64_output"] and webhook_url:
        raise InvalidRequest("enable_base64_output cannot be used together with a webhook")
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise InvalidRequest("webhook must be an http(s) URL")
    return params


def validate_listing(body):
    """(page, page_size, status) of a POST /api/v3/predictions body."""
    _require_object(body)
    page = _int_in("page", body.get("page", 1), 1, MAX_SEED)
    page_size = _int_in("page_size", body.get("page_size", 20), 1, 100)
    status = body.get("status") or ""
    if status not in ("", *PREDICTION_STATUSES):
        raise InvalidRequest(f"status must be one of {', '.join(PREDICTION_STATUSES)}")
    return page, page_size, status


def validate_price_request(body):
    """(model_id, num_images) of a POST /api/v3/model/price body."""
    _require_object(body)
    model_id = body.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        raise InvalidRequest("model_id is required")
    inputs = body.get("inputs", {})
    if not isinstance(inputs, dict):
        raise InvalidRequest("inputs must be an object")
    return model_id, FIELD_RULES["num_images"][1](inputs.get("num_images", 1))


def validate_delete_request(body):
    """The ids of a POST /api/v3/predictions/delete body: {"ids": [...]}, 1 to 100 strings."""
    _require_object(body)
    ids = body.get("ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or not all(isinstance(i, str) and i for i in ids):
        raise InvalidRequest("ids must be a list of 1 to 100 prediction ids")
    return ids
