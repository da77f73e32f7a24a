"""Who may do what on the pages: one decorator per permission, all read from the role table in variations.team.

The JSON API asks the same table (variations.api.requires), so pages, forms and API calls follow
one set of rules: viewers browse and download, members also run, curate, share and delete their
own work, admins do everything and manage people.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from ..models import ApiKeyRefusal
from ..team import PERMISSIONS, allows, role_of


def may_browse(user):
    """See the library, galleries, boards, outputs and the job history."""
    return allows(user, "browse")


def may_run(user):
    """Upload, start, re-run, cancel and retry jobs, vary outputs, star them."""
    return allows(user, "run")


def may_download(user):
    """Download originals and whole galleries as zip files."""
    return allows(user, "download")


def forbidden(request, text=None):
    role = role_of(request.user)
    text = text or f"Your role ({role.label if role else 'none'}) does not allow this. Ask an admin if you need it."
    return render(request, "403.html", {"text": text}, status=403)


def _requires(allowed):
    """A view decorator: signed in (else to the sign-in page) and `allowed(user)` (else 403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def checked(request, *args, **kwargs):
            if not allowed(request.user):
                return forbidden(request)
            return view(request, *args, **kwargs)

        return checked

    return decorator


def require(permission):
    """The decorator for views that need `permission` from the role table."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return _requires(lambda user: allows(user, permission))


browse_required = require("browse")
run_required = require("run")
download_required = require("download")


def permissions(user):
    """What the templates need to know to show or hide controls (the views enforce it anyway)."""
    return {name: allows(user, name) for name in PERMISSIONS} | {"role": role_of(user)}


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
