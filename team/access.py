"""Who may do what on the pages: one decorator per permission, all read from the role table in team.models.

The JSON API asks the same table (team.api_auth.requires), so pages, forms and API calls follow
one set of rules: viewers browse and download, members also run, curate, share and delete their
own work, admins do everything and manage people.
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from .models import PERMISSIONS, allows, role_of


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


def safe_next(request, fallback):
    """The `next` URL a form sent, if it points into this site; else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


def wants_json(request):
    """Requests from the page's own scripts ask for JSON; plain form posts get a redirect."""
    return "application/json" in request.headers.get("Accept", "")
