"""Counting failed attempts in the cache (sign-ins, share-link passwords), so guessing stops after a few tries.

The cache is Redis when REDIS_URL is set (one count for every process and host); otherwise each
process keeps its own count, which still stops a guesser after `limit` tries per process.
"""

import hashlib

from django.core.cache import cache


class Throttle:
    """At most `limit` failures per key within `seconds`; then the key is locked for `seconds`."""

    def __init__(self, name, limit, seconds):
        self.name, self.limit, self.seconds = name, limit, seconds

    def _key(self, *parts):
        # Hashed: usernames and addresses stay out of the cache's key space.
        return f"throttle:{self.name}:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def blocked(self, *parts):
        return (cache.get(self._key(*parts)) or 0) >= self.limit

    def failed(self, *parts):
        """Count one failure; True if the key is now locked."""
        key = self._key(*parts)
        cache.add(key, 0, self.seconds)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, self.seconds)
            count = 1
        return count >= self.limit

    def reset(self, *parts):
        cache.delete(self._key(*parts))

    @property
    def minutes(self):
        return max(1, round(self.seconds / 60))


def client_address(request):
    """The address the request came from. REMOTE_ADDR only: forwarded headers can be forged by the client."""
    return request.META.get("REMOTE_ADDR", "")


LOGIN = Throttle("login", limit=5, seconds=15 * 60)
SHARE_PASSWORD = Throttle("share-password", limit=5, seconds=15 * 60)
