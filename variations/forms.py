"""Forms of the pages. Variation parameters are judged by variations.params alone; this only reads and shows them."""

from typing import get_args

from django import forms
from django.contrib.auth import get_user_model

from .params import DEFAULTS, LIMITS, PRESETS, SIDE_MAX, SIDE_MIN, VariationParams, default_size, size_presets, validate
from .search import QUERY_MAX

PARAMETER_NAMES = list(DEFAULTS)


def bound(name, kind):
    """The documented lower ("ge") or upper ("le") limit of a parameter (params.LIMITS)."""
    return LIMITS[name][0 if kind == "ge" else 1]


class VariationForm:
    """The new-variation form: every parameter with its documented default and range.

    Values stay as the person typed them, so a refused form comes back exactly as sent,
    with each message next to its field.
    """

    def __init__(self, source, values=None, errors=None):
        self.source = source
        self.values = {**DEFAULTS, "size": default_size(source.width, source.height), **(values or {})}
        if self.values["seed"] is None:
            self.values["seed"] = ""
        self.errors = errors or {}

    @classmethod
    def for_job(cls, job):
        """Prefilled with a job's parameters (its concrete seed included), for "Edit & run"."""
        return cls(job.source, job.params())

    @classmethod
    def from_post(cls, source, data):
        """Read a posted form; returns (form, VariationParams or None if refused).

        A blank field takes the documented default; a blank seed means "draw one". A checkbox that is
        not ticked sends nothing, so the form posts a hidden "false" before it and the last value counts.
        """
        values = {}
        for name in PARAMETER_NAMES:
            sent = data.getlist(name)
            if not sent:
                continue
            text = sent[-1].strip()
            if text:
                values[name] = text
            elif name == "seed":
                values[name] = None
        params, errors = validate(values)
        return cls(source, values, errors), params

    @property
    def size_presets(self):
        return size_presets(self.source.width, self.source.height)

    @property
    def limits(self):
        return {
            "side_min": SIDE_MIN,
            "side_max": SIDE_MAX,
            "steps_min": bound("num_inference_steps", "ge"),
            "steps_max": bound("num_inference_steps", "le"),
            "guidance_min": bound("guidance_scale", "ge"),
            "guidance_max": bound("guidance_scale", "le"),
            "seed_max": bound("seed", "le"),
            "images_max": bound("num_images", "le"),
        }

    @property
    def image_counts(self):
        return range(bound("num_images", "ge"), bound("num_images", "le") + 1)

    @property
    def presets(self):
        """Subtle / Default / Strong: the values each one-click preset puts into the form."""
        default = {name: DEFAULTS[name] for name in PRESETS["subtle"]}
        return {"subtle": PRESETS["subtle"], "default": default, "strong": PRESETS["strong"]}

    @property
    def format_choices(self):
        return [(value, value.upper()) for value in get_args(VariationParams.model_fields["output_format"].annotation)]

    @property
    def safety_checked(self):
        return str(self.values["enable_safety_checker"]).lower() in ("true", "1", "on", "yes")

    @property
    def defaults(self):
        return DEFAULTS

    @property
    def other_errors(self):
        """Messages that belong to no field shown on the form."""
        return [m for name, messages in self.errors.items() if name not in PARAMETER_NAMES for m in messages]


STATUS_CHOICES = [("", "Any status")] + [(s, s.capitalize()) for s in ("queued", "processing", "completed", "failed", "cancelled")]


class JobFilterForm(forms.Form):
    """The filters of the job history; every field optional, each error shown next to its field."""

    q = forms.CharField(
        required=False,
        max_length=QUERY_MAX,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Title or seed"}),
    )
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    person = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        to_field_name="username",
        required=False,
        empty_label="Everyone",
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned
