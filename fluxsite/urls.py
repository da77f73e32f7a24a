from django.contrib import admin
from django.urls import path

from variations.api import api
from variations.views import media, webhooks

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("webhooks/wavespeed", webhooks.wavespeed_webhook, name="wavespeed-webhook"),
    path("media/sources/<uuid:source_id>", media.source_file, name="media-source"),
    path("media/sources/<uuid:source_id>/thumbnail", media.source_file, {"thumbnail": True}, name="media-source-thumbnail"),
    path("media/outputs/<uuid:output_id>", media.output_file, name="media-output"),
    path("media/outputs/<uuid:output_id>/thumbnail", media.output_file, {"thumbnail": True}, name="media-output-thumbnail"),
]
