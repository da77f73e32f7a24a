"""Django's own error answers (a malformed Host header, an unknown URL, a crash) in the API's shape
under /api/: JSON `{detail}` like every other answer there, the HTML error pages everywhere else.
They come before any view runs (a bad Host is refused by the middleware), so ninja never sees them."""

from django.http import JsonResponse
from django.views import defaults


def _in_api(request):
    return request.path.startswith("/api/")


def bad_request(request, exception):
    if _in_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request, exception):
    if _in_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _in_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)
