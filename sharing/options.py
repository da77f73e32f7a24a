"""What a person chooses for a share link (expiry, password, downloads, parameters), validated in one
place for the API and the pages alike."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, field_validator

from variations.params import errors_by_field, whole

DEFAULT_EXPIRY_DAYS = 30
MAX_EXPIRY_DAYS = 3650
PASSWORD_MIN, PASSWORD_MAX = 6, 128


class ShareOptions(BaseModel):
    """Least exposure by default: no download and no parameters unless asked for; expiry after 30 days
    unless `expires_in_days` is explicitly null ("never").
    """

    model_config = ConfigDict(extra="forbid", strict=True)  # the pages' form converts its text first

    expires_in_days: whole(ge=1, le=MAX_EXPIRY_DAYS) | None = Field(DEFAULT_EXPIRY_DAYS, description="null: never expires")
    password: Annotated[str | None, WithJsonSchema({  # as the check below: "" or null is none
        "anyOf": [{"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}, {"enum": [""]}, {"type": "null"}],
        "description": f"optional, {PASSWORD_MIN}..{PASSWORD_MAX} characters",
    })] = None
    allow_download: bool = False
    show_parameters: bool = False

    @field_validator("password")
    @classmethod
    def _password_length(cls, value):
        if value in (None, ""):
            return None
        if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
            raise ValueError(f"a link password has {PASSWORD_MIN} to {PASSWORD_MAX} characters")
        return value


def validate_options(data):
    """Options as the pages' form reads them (numbers as text too): (ShareOptions, None) or (None, {field: [message]})."""
    try:
        return ShareOptions.model_validate(data, strict=False), None
    except ValidationError as exc:
        return None, errors_by_field(exc.errors())
