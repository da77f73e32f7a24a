"""The WaveSpeed client, configured from this instance's settings, and its error counts kept for /metrics."""

import os
import threading

from django.conf import settings

from wavespeed_api import WaveSpeedClient, take_error_tally
from wavespeed_api.client import keep_alive_session

from .models import WaveSpeedErrorCount

_session = {"pid": None, "session": None}
_session_lock = threading.Lock()


def shared_session():
    """This process's one keep-alive pool to WaveSpeed, sized to the dispatcher's threads (the most that
    call at once), so connections are reused and never outnumber them. Made anew after a fork."""
    with _session_lock:
        if _session["pid"] != os.getpid():
            _session.update(pid=os.getpid(), session=keep_alive_session(settings.FLUXSITE_DISPATCH_THREADS))
        return _session["session"]


def wavespeed_client(**options):
    """A client for the configured key and base URL on the shared session; `options` override the
    timeouts and retries."""
    options.setdefault("timeout", (settings.WAVESPEED_CONNECT_TIMEOUT, settings.WAVESPEED_READ_TIMEOUT))
    options.setdefault("session", shared_session())
    return WaveSpeedClient(api_key=settings.WAVESPEED_API_KEY, base_url=settings.WAVESPEED_BASE_URL, **options)


def report_wavespeed_errors():
    """Add the errors this process's clients met since the last report to the totals /metrics reads."""
    WaveSpeedErrorCount.add(take_error_tally())
