"""WaveSpeed's answers as typed errors. Each error is tallied by kind when made (read by the app's metrics)."""

import threading
from collections import Counter

_error_tally = Counter()
_error_tally_lock = threading.Lock()


def take_error_tally():
    """The errors this process met since the last call, {kind: count} (the app adds them to its totals for /metrics)."""
    with _error_tally_lock:
        tally = dict(_error_tally)
        _error_tally.clear()
    return tally


class WaveSpeedError(Exception):
    """Base of every error this module raises. `status` is the HTTP status (None if no answer).

    Every error is tallied by `kind` when made, retried ones included, for the metrics.
    """

    kind = "error"

    def __init__(self, message, status=None, code=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        with _error_tally_lock:
            _error_tally[self.kind] += 1


class Unauthorized(WaveSpeedError):
    """401: the key is wrong or the account has never been topped up."""

    kind = "unauthorized"


class Forbidden(Unauthorized):
    """403: the key is known but its account may not do this (suspended, not allowed). Like a 401, no
    submit can succeed until someone fixes the account, so it is an Unauthorized of its own kind."""

    kind = "forbidden"


class InsufficientBalance(WaveSpeedError):
    """A refusal for lack of credit (HTTP 402, or a 4xx whose message speaks of the balance): nothing
    was created, and no submit can succeed until the account is topped up."""

    kind = "insufficient_balance"


class BadRequest(WaveSpeedError):
    """400 (or another 4xx): WaveSpeed refused the request as it stands; sending it again will not help."""

    kind = "bad_request"


class NotFound(WaveSpeedError):
    """404: no such prediction (deleted after 7 days, or never made), or no such endpoint. It never means
    "deleted": a task WaveSpeed does not list may still be running and charging."""

    kind = "not_found"


class RateLimited(WaveSpeedError):
    """429: too many requests or too many tasks at once; wait and try again."""

    kind = "rate_limited"


class ServerError(WaveSpeedError):
    """5xx, a dropped connection or a timeout on a call that is safe to repeat."""

    kind = "server_error"


class MalformedResponse(WaveSpeedError):
    """WaveSpeed answered 2xx with a body this client cannot read."""

    kind = "malformed_response"


class AmbiguousSubmit(WaveSpeedError):
    """The submit POST may have reached WaveSpeed, and its answer was neither a task id nor a clear
    refusal (no answer, a 5xx, an unreadable body): the task may exist and be charged. Never re-sent;
    WaveSpeed's history settles it."""

    kind = "submit_ambiguous"
