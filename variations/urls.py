from django.urls import path

from .views import costs, deleting, downloads, gallery, jobs, library, media, webhooks

urlpatterns = [
    path("webhooks/wavespeed", webhooks.wavespeed_webhook, name="wavespeed-webhook"),
    path("media/sources/<uuid:source_id>", media.source_file, name="media-source"),
    path("media/sources/<uuid:source_id>/thumbnail", media.source_file, {"thumbnail": True}, name="media-source-thumbnail"),
    path("media/outputs/<uuid:output_id>", media.output_file, name="media-output"),
    path("media/outputs/<uuid:output_id>/thumbnail", media.output_file, {"thumbnail": True}, name="media-output-thumbnail"),
    path("", library.library, name="library"),
    path("sources/upload", library.upload, name="source-upload"),
    path("sources/<uuid:source_id>/", gallery.gallery, name="source-gallery"),
    path("sources/<uuid:source_id>/run", gallery.run_variation, name="source-run"),
    path("sources/<uuid:source_id>/download.zip", downloads.gallery_zip, name="source-download"),
    path("sources/<uuid:source_id>/delete", deleting.delete_source, name="source-delete"),
    path("sources/<uuid:source_id>/rename", gallery.rename_source, name="source-rename"),
    path("outputs/<uuid:output_id>/", gallery.output_detail, name="output-detail"),
    path("outputs/<uuid:output_id>/vary", gallery.vary_output, name="output-vary"),
    path("outputs/<uuid:output_id>/star", gallery.star_output, name="output-star"),
    path("jobs/", jobs.history, name="job-history"),
    path("jobs/live", jobs.live, name="jobs-live"),
    path("jobs/<uuid:job_id>/rerun", jobs.rerun, name="job-rerun"),
    path("jobs/<uuid:job_id>/cancel", jobs.cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/retry", jobs.retry, name="job-retry"),
    path("jobs/<uuid:job_id>/delete", deleting.delete_job, name="job-delete"),
    path("costs/", costs.costs_page, name="costs"),
]
