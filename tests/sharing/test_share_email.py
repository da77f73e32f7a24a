"""Sending a share link by e-mail from its page: Django's mail settings, the link and its expiry in the
message, never the password; only for the link's maker or an admin, and throttled."""

import pytest

from fluxsite.email_url import email_settings
from sharing.models import ShareOptions, create_link
from sharing.views import share_email
from tests.factories import pages_as


@pytest.fixture
def link(member, completed_job):
    return create_link(completed_job.source, ShareOptions(password="s3cret-word"), member)


def test_the_maker_sends_the_link_without_its_password(member, link, mailoutbox):
    shared, token = link
    client = pages_as(member)
    assert "Send by e-mail" in client.get(f"/shares/{shared.pk}/").content.decode()
    client.post(f"/shares/{shared.pk}/email", {"to": "client@example.com", "note": "Round one, as promised."})
    [message] = mailoutbox
    assert message.to == ["client@example.com"] and message.subject == "alice shared a gallery of images with you"
    assert f"/s/{token}/" in message.body and "Round one, as promised." in message.body
    assert "asks for a password" in message.body and "s3cret-word" not in message.body
    assert shared.expires_at.strftime("%Y-%m-%d") in message.body


def test_others_bad_addresses_dead_links_and_floods_send_nothing(member, colleague, admin, link, mailoutbox, monkeypatch):
    shared, _ = link
    assert pages_as(colleague).post(f"/shares/{shared.pk}/email", {"to": "a@example.com"}).status_code == 404
    client = pages_as(member)
    client.post(f"/shares/{shared.pk}/email", {"to": "not-an-address"})
    assert not mailoutbox
    monkeypatch.setattr(share_email.SENDS, "limit", 2)
    for _ in range(3):
        client.post(f"/shares/{shared.pk}/email", {"to": "a@example.com"})
    assert len(mailoutbox) == 2
    pages_as(admin).post(f"/shares/{shared.pk}/email", {"to": "b@example.com"})  # an admin may send anyone's
    assert len(mailoutbox) == 3
    shared.revoke()
    client.post(f"/shares/{shared.pk}/email", {"to": "c@example.com"})
    assert len(mailoutbox) == 3


def test_email_url_gives_djangos_mail_settings():
    assert email_settings("") == {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    smtp = email_settings("smtp://mailer:p%40ss@mail.example.com:587?tls=1")
    assert smtp["EMAIL_HOST"] == "mail.example.com" and smtp["EMAIL_PORT"] == 587
    assert smtp["EMAIL_HOST_USER"] == "mailer" and smtp["EMAIL_HOST_PASSWORD"] == "p@ss"
    assert smtp["EMAIL_USE_TLS"] and not smtp["EMAIL_USE_SSL"]
    ssl = email_settings("smtps://mail.example.com")
    assert ssl["EMAIL_PORT"] == 465 and ssl["EMAIL_USE_SSL"] and not ssl["EMAIL_USE_TLS"]
    with pytest.raises(ValueError):
        email_settings("carrier-pigeon://coop")
