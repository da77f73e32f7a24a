"""Endpoints for machines: /healthz for load balancers and container health checks, /metrics for Prometheus.

Both are answered by a middleware ahead of host validation and the HTTPS redirect: probes and
scrapers reach a container by its IP or service name over plain HTTP. Neither answer builds
URLs from the Host header, so skipping that check is safe; /metrics checks who asks itself.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.middleware.gzip import GZipMiddleware
from prometheus_client import CONTENT_TYPE_LATEST

from team.throttle import client_address

from . import health, metrics


def healthz(request):
    checks, ok = health.report()
    response = JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


def metrics_access(request):
    """None if the caller may read the metrics, else the reason as (status, message)."""
    token = settings.FLUXSITE_METRICS_TOKEN
    networks = settings.FLUXSITE_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return 404, "Metrics are off: set FLUXSITE_METRICS_TOKEN or FLUXSITE_METRICS_ALLOWED_NETWORKS."
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode()):
        return None
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        address = None
    if address is not None:
        address = getattr(address, "ipv4_mapped", None) or address
        if any(address in network for network in networks):
            return None
    if token:
        return 401, "Send Authorization: Bearer <FLUXSITE_METRICS_TOKEN>."
    return 403, "Metrics are open only to FLUXSITE_METRICS_ALLOWED_NETWORKS."


def metrics_view(request):
    refused = metrics_access(request)
    if refused:
        status, message = refused
        response = HttpResponse(message, status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


ENDPOINTS = {"/healthz": healthz, "/metrics": metrics_view}


class OpsEndpointsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = ENDPOINTS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = HttpResponse("Use GET.", status=405, content_type="text/plain")
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)


# What gzip shrinks: pages, JSON, CSV, scripts, SVG. Images and zips are compressed already.
COMPRESSIBLE_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "image/svg+xml")


class TextGZipMiddleware(GZipMiddleware):
    """Django's GZipMiddleware (whose gzip headers carry random-length padding against BREACH) for text
    answers only: gzipping a streamed image or zip costs the web process CPU and saves nothing."""

    def process_response(self, request, response):
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type.startswith(COMPRESSIBLE_TYPES):
            return response
        return super().process_response(request, response)
