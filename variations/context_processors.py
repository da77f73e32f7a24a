"""What every page shows about the WaveSpeed connection."""

from django.conf import settings

from .models import ApiKeyRefusal

REFUSAL_FIX = {
    ApiKeyRefusal.Kind.UNAUTHORIZED: "the key works again: check WAVESPEED_API_KEY (a key works only after the "
    "account's first top-up)",
    ApiKeyRefusal.Kind.FORBIDDEN: "WaveSpeed allows the account again (it may be suspended): ask WaveSpeed support",
    ApiKeyRefusal.Kind.INSUFFICIENT_BALANCE: "the WaveSpeed account is topped up (checked every minute)",
}


def service_banner(request):
    """{"banner": why jobs may not produce real images right now, or None}, looked up once per request
    (pages that render many fragments run this for each)."""
    if not hasattr(request, "_fluxsite_banner"):
        request._fluxsite_banner = _banner()
    return {"banner": request._fluxsite_banner}


def _banner():
    """Why jobs may not produce real images right now, for the banner on every page (or None)."""
    if settings.WAVESPEED_SIMULATED:
        return {
            "kind": "simulator",
            "title": "Simulator mode",
            "text": "Images come from the built-in WaveSpeed simulator, a test double: they are not real "
            "FLUX.1 Redux output. Set WAVESPEED_API_KEY to use WaveSpeed.",
        }
    if not settings.WAVESPEED_API_KEY:
        return {
            "kind": "error",
            "title": "No WaveSpeed API key",
            "text": "Jobs wait in the queue until WAVESPEED_API_KEY is set and the app restarted.",
        }
    refusal = ApiKeyRefusal.for_current_key()
    if refusal:
        return {
            "kind": "error",
            "title": ApiKeyRefusal.Kind(refusal.kind).label,
            "text": "Since {:%Y-%m-%d %H:%M} UTC no job is submitted; queued jobs wait and go out once {}.".format(
                refusal.refused_at, REFUSAL_FIX[refusal.kind]
            ),
        }
    return None
