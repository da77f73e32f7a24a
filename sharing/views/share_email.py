"""Send a share link to an address from its page, with Django's mail settings (EMAIL_URL; the console
backend by default). The message holds the link and how long it works, never its password: the app
keeps only the password's hash, and whoever sends the link tells the password another way."""

import logging

from django import forms
from django.contrib import messages
from django.core.mail import send_mail
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from team.access import forbidden, require
from team.throttle import Throttle

from ..models import links_visible_to

log = logging.getLogger(__name__)
SENDS = Throttle("share-email", limit=30, seconds=60 * 60)  # per person: mail that stays mail, not a spam cannon


class ShareEmailForm(forms.Form):
    to = forms.EmailField(label="Send to", max_length=254)
    note = forms.CharField(label="A note (optional)", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


def message_for(link, url, sender, note):
    """(subject, body) of the mail: plain text, the sender's note as they typed it."""
    who = sender.get_full_name() or sender.get_username()
    what = "a board" if link.board_id else "a gallery of images"
    lines = [f"{who} shared {what} with you:", "", url, ""]
    if note:
        lines += [note, ""]
    if link.expires_at:
        lines.append(f"The link works until {link.expires_at:%Y-%m-%d %H:%M} UTC.")
    if link.has_password:
        lines.append(f"It asks for a password, which {who} will give you separately.")
    return f"{who} shared {what} with you", "\n".join(lines) + "\n"


@require("share")
@require_POST
def email_link(request, share_id):
    link = get_object_or_404(links_visible_to(request.user), pk=share_id)
    if not link.deletable_by(request.user):
        return forbidden(request, "Only the person who made this link, or an admin, may send it.")
    form = ShareEmailForm(request.POST)
    url = link.url(request)
    if not link.is_active or url is None:
        messages.error(request, f"This link is {link.state if not link.is_active else 'no longer derivable'}: make a new one to send.")
    elif not form.is_valid():
        messages.error(request, "; ".join(error for errors in form.errors.values() for error in errors))
    elif SENDS.blocked(str(request.user.pk)):
        messages.error(request, f"Too many links sent lately: wait {SENDS.minutes} minutes.")
    else:
        SENDS.failed(str(request.user.pk))
        subject, body = message_for(link, url, request.user, form.cleaned_data["note"])
        send_mail(subject, body, None, [form.cleaned_data["to"]])
        log.info("share link %s sent by e-mail by %s", link.pk, request.user.get_username())  # the address stays out of the log
        messages.success(request, f"Link sent to {form.cleaned_data['to']}.")
    return redirect("share-detail", link.pk)
