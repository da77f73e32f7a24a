"""Forms of the team pages: accounts, invitations, roles and API tokens."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from .models import Invitation, Role


class AccountForm(UserCreationForm):
    """A new account: username, optional email, and a password checked by the password validators."""

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
    note = forms.CharField(max_length=200, required=False, label="For", help_text="A name or email, to tell invitations apart")
    days = forms.IntegerField(min_value=1, max_value=30, initial=Invitation.DEFAULT_DAYS, label="Valid for (days)")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where it will be used, e.g. “laptop script”")
