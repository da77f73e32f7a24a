"""Who may do what on the pages: one decorator per permission, so roles can be enforced in one place.

Today every signed-in, active person may do everything; roles (admin/member/viewer) change only
the `may_*` functions below, and every page, form and fragment that uses them follows.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from ..models import ApiKeyRefusal


def may_browse(user):
    """See the library, galleries, outputs and the job history."""
    return user.is_active


def may_run(user):
    """Upload, start, re-run, cancel and retry jobs, vary outputs, star them."""
    return user.is_active


def may_download(user):
    """Download originals and whole galleries as zip files."""
    return user.is_active


def _requires(allowed):
    def decorator(view):
        @wraps(view)
        @login_required
        def checked(request, *args, **kwargs):
            if not allowed(request.user):
                return render(request, "403.html", status=403)
            return view(request, *args, **kwargs)

        return checked

    return decorator


browse_required = _requires(may_browse)
run_required = _requires(may_run)
download_required = _requires(may_download)


def permissions(user):
    """What the templates need to know to show or hide controls (the views enforce it anyway)."""
    return {"run": may_run(user), "download": may_download(user)}


def service_banner():
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
            "title": "WaveSpeed refused the API key",
            "text": "Since {:%Y-%m-%d %H:%M} UTC no job is submitted; queued jobs go out once the key "
            "works again. Check WAVESPEED_API_KEY.".format(refusal.refused_at),
        }
    return None


def render_page(request, template, context=None, status=200):
    """A full page: the permissions and the service banner on top of the view's own context."""
    full = {"may": permissions(request.user), "banner": service_banner(), **(context or {})}
    return render(request, template, full, status=status)


def safe_next(request, fallback):
    """The `next` URL a form sent, if it points into this site; else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def wants_json(request):
    """Requests from the page's own scripts ask for JSON; plain form posts get a redirect."""
    return "application/json" in request.headers.get("Accept", "")
