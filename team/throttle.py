"""Counting failed attempts (sign-ins, share-link passwords), so guessing stops after a few tries.

The counts live in the database (team.models.ThrottleCount): every web process and every host sees
the same count, so the limit holds however many workers serve the site. Every sign-in goes through
ThrottledModelBackend, the only authentication backend: the sign-in page, the admin site's and any
other authenticate() call count against the same limit.
"""

import hashlib
import ipaddress
import logging
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .models import ThrottleCount

log = logging.getLogger(__name__)


class Throttle:
    """At most `limit` failures per key within `seconds`; the limit-th failure locks the key for `seconds`."""

    def __init__(self, name, limit, seconds):
        self.name, self.limit, self.seconds = name, limit, seconds

    def _key(self, *parts):
        # Hashed: usernames and addresses stay out of the table.
        return hashlib.sha256("\x00".join([self.name, *parts]).encode()).hexdigest()

    def blocked(self, *parts):
        live = ThrottleCount.objects.filter(key=self._key(*parts), expires_at__gt=timezone.now())
        return live.filter(failures__gte=self.limit).exists()

    def failed(self, *parts):
        """Count one failure; True if the key is now locked."""
        key, now = self._key(*parts), timezone.now()
        until = now + timedelta(seconds=self.seconds)
        counts = ThrottleCount.objects
        with transaction.atomic():
            counts.filter(expires_at__lte=now).delete()
            # One UPDATE ... SET failures = failures + 1: processes racing on a key each count.
            if not counts.filter(key=key).update(failures=F("failures") + 1):
                try:
                    with transaction.atomic():
                        counts.create(key=key, failures=1, expires_at=until)
                except IntegrityError:  # another process started this count a moment ago
                    counts.filter(key=key).update(failures=F("failures") + 1)
            failures = counts.filter(key=key).values_list("failures", flat=True).first() or 0
            if failures == self.limit:
                counts.filter(key=key).update(expires_at=until)
        return failures >= self.limit

    def reset(self, *parts):
        ThrottleCount.objects.filter(key=self._key(*parts)).delete()

    @property
    def minutes(self):
        return max(1, round(self.seconds / 60))


def _trusted_proxy(address):
    try:
        address = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in settings.FLUXSITE_TRUSTED_PROXIES)


def client_address(request):
    """The address the request came from: REMOTE_ADDR, unless that is one of FLUXSITE_TRUSTED_PROXIES.

    Then the nearest X-Forwarded-For hop that is not a trusted proxy: each proxy appends the address
    it saw, so the hops to the right of the first untrusted one are the proxies' own, and anything to
    its left is whatever the client wrote. The header alone, from anyone else, counts for nothing.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if not _trusted_proxy(remote):
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted_proxy(hop):
            return hop
    return hops[0] if hops else remote


LOGIN = Throttle("login", limit=5, seconds=15 * 60)
SHARE_PASSWORD = Throttle("share-password", limit=5, seconds=15 * 60)


def login_key(request, username):
    """(username as the person meant it, address): "ALICE " and "alice" are one account to a guesser."""
    name = unicodedata.normalize("NFKC", username or "").strip().casefold()
    return name, client_address(request) if request is not None else ""


class ThrottledModelBackend(ModelBackend):
    """Django's username and password check behind the sign-in throttle: once a username has failed
    LOGIN.limit times from an address, even the right password is refused there for a while."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        key = login_key(request, username)
        if LOGIN.blocked(*key):
            raise PermissionDenied("too many failed sign-ins")  # authenticate() stops here: no other backend is asked
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            LOGIN.reset(*key)
        elif LOGIN.failed(*key):
            log.warning("sign-in locked for a username after %s failures", LOGIN.limit)
        return user
