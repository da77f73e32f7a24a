"""The WaveSpeed client, configured from this instance's settings, and its error counts kept for /metrics."""

from django.conf import settings

from wavespeed_api import WaveSpeedClient, take_error_tally

from .models import WaveSpeedErrorCount


def wavespeed_client(**options):
    """A client for the configured key and base URL; `options` override the timeouts and retries."""
    options.setdefault("timeout", (settings.WAVESPEED_CONNECT_TIMEOUT, settings.WAVESPEED_READ_TIMEOUT))
    return WaveSpeedClient(api_key=settings.WAVESPEED_API_KEY, base_url=settings.WAVESPEED_BASE_URL, **options)


def report_wavespeed_errors():
    """Add the errors this process's clients met since the last report to the totals /metrics reads."""
    WaveSpeedErrorCount.add(take_error_tally())
