"""Forms of boards and share links.

Share options are judged by sharing.models.ShareOptions alone (as the API does); this form only reads them.
"""

from django import forms

from .options import DEFAULT_EXPIRY_DAYS, PASSWORD_MAX, PASSWORD_MIN, validate_options

EXPIRY_CHOICES = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never")]


class BoardForm(forms.Form):
    name = forms.CharField(max_length=120, label="Board name")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the board a name.")
        return name


class ShareForm(forms.Form):
    """The options of a new link, or of a link being edited (then a blank password keeps the current one)."""

    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial=str(DEFAULT_EXPIRY_DAYS), label="Expires after")
    password = forms.CharField(
        required=False, max_length=PASSWORD_MAX, label="Password (optional)",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=f"{PASSWORD_MIN} characters or more; people with the link must type it.",
    )
    remove_password = forms.BooleanField(required=False, label="Remove the password")
    allow_download = forms.BooleanField(required=False, label="Allow downloads", help_text="Originals and the zip; off shows thumbnails only.")
    show_parameters = forms.BooleanField(required=False, label="Show parameters", help_text="Seeds and settings of every job.")

    def __init__(self, *args, link=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.link = link
        if link is None:
            del self.fields["remove_password"]
        else:
            current = f"{link.expires_at:%Y-%m-%d %H:%M} UTC" if link.expires_at else "never"
            self.fields["expires"].choices = [("keep", f"Keep as it is ({current})")] + EXPIRY_CHOICES
            self.fields["expires"].label = "Expiry"
            self.fields["password"].label = "New password (blank: keep the current one)"

    @classmethod
    def for_link(cls, link, data=None):
        initial = {"expires": "keep", "allow_download": link.allow_download, "show_parameters": link.show_parameters}
        return cls(data, link=link, initial=initial)

    @property
    def keeps_expiry(self):
        return self.cleaned_data.get("expires") == "keep"

    @property
    def keeps_password(self):
        return not self.cleaned_data.get("remove_password")

    def clean(self):
        cleaned = super().clean()
        expires = cleaned.get("expires")
        options, errors = validate_options({
            "expires_in_days": None if expires == "never" else DEFAULT_EXPIRY_DAYS if expires == "keep" else expires,
            "password": cleaned.get("password") or None,
            "allow_download": cleaned.get("allow_download", False),
            "show_parameters": cleaned.get("show_parameters", False),
        })
        for field, messages in (errors or {}).items():
            name = {"expires_in_days": "expires"}.get(field, field)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)
        self.options = options
        return cleaned


class SharePasswordForm(forms.Form):
    password = forms.CharField(max_length=PASSWORD_MAX, widget=forms.PasswordInput(attrs={"autocomplete": "off", "autofocus": True}))
