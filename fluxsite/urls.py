"""Every page but sign-in needs a session; each app says its own URLs (team, variations, sharing)."""

from django.contrib import admin
from django.urls import include, path

from variations.views.wavespeed import wavespeed_page

from .api import api

urlpatterns = [
    path("admin/wavespeed/", wavespeed_page, name="admin-wavespeed"),  # before admin/, which would take it
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("team.urls")),
    path("", include("variations.urls")),
    path("", include("sharing.urls")),
]

handler400 = "fluxsite.errors.bad_request"
handler404 = "fluxsite.errors.page_not_found"
handler500 = "fluxsite.errors.server_error"
