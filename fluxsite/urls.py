from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from variations.api import api
from variations.views import account, boards, costs, deleting, downloads, gallery, jobs, library, media, people, shared, shares, webhooks

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("webhooks/wavespeed", webhooks.wavespeed_webhook, name="wavespeed-webhook"),
    path("media/sources/<uuid:source_id>", media.source_file, name="media-source"),
    path("media/sources/<uuid:source_id>/thumbnail", media.source_file, {"thumbnail": True}, name="media-source-thumbnail"),
    path("media/outputs/<uuid:output_id>", media.output_file, name="media-output"),
    path("media/outputs/<uuid:output_id>/thumbnail", media.output_file, {"thumbnail": True}, name="media-output-thumbnail"),
    # The studio pages (server-rendered; every page but login needs a session).
    path("accounts/login/", account.ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", library.library, name="library"),
    path("sources/upload", library.upload, name="source-upload"),
    path("sources/<uuid:source_id>/", gallery.gallery, name="source-gallery"),
    path("sources/<uuid:source_id>/run", gallery.run_variation, name="source-run"),
    path("sources/<uuid:source_id>/download.zip", downloads.gallery_zip, name="source-download"),
    path("outputs/<uuid:output_id>/", gallery.output_detail, name="output-detail"),
    path("outputs/<uuid:output_id>/vary", gallery.vary_output, name="output-vary"),
    path("outputs/<uuid:output_id>/star", gallery.star_output, name="output-star"),
    path("jobs/", jobs.history, name="job-history"),
    path("jobs/live", jobs.live, name="jobs-live"),
    path("jobs/<uuid:job_id>/rerun", jobs.rerun, name="job-rerun"),
    path("jobs/<uuid:job_id>/cancel", jobs.cancel, name="job-cancel"),
    path("jobs/<uuid:job_id>/retry", jobs.retry, name="job-retry"),
    path("costs/", costs.costs_page, name="costs"),
    path("sources/<uuid:source_id>/delete", deleting.delete_source, name="source-delete"),
    path("jobs/<uuid:job_id>/delete", deleting.delete_job, name="job-delete"),
    # The team: first run, invitations, people, API tokens, boards and share links.
    path("setup/", account.setup, name="setup"),
    path("invite/<str:token>/", account.accept_invitation, name="accept-invitation"),
    path("account/tokens/", account.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke", account.revoke_token, name="token-revoke"),
    path("people/", people.people, name="people"),
    path("people/invite", people.invite, name="people-invite"),
    path("people/invitations/<int:invitation_id>/revoke", people.revoke_invitation, name="invitation-revoke"),
    path("people/<int:user_id>/role", people.change_role, name="people-role"),
    path("people/<int:user_id>/active", people.set_active, name="people-active"),
    path("boards/", boards.board_list, name="boards"),
    path("boards/new", boards.create_board, name="board-create"),
    path("boards/pick", boards.pick_board, name="board-pick"),
    path("boards/<int:board_id>/", boards.board_page, name="board"),
    path("boards/<int:board_id>/rename", boards.rename_board, name="board-rename"),
    path("boards/<int:board_id>/delete", boards.delete_board, name="board-delete"),
    path("boards/<int:board_id>/items", boards.board_items_change, name="board-items"),
    path("shares/", shares.share_list, name="shares"),
    path("shares/new", shares.new_share, name="share-new"),
    path("shares/<int:share_id>/", shares.share_detail, name="share-detail"),
    path("shares/<int:share_id>/revoke", shares.revoke_share, name="share-revoke"),
    # What a share link shows, to anyone holding it (no account): read-only, its own media URLs.
    path("s/<str:token>/", shared.shared, name="shared"),
    path("s/<str:token>/download.zip", media.shared_zip, name="shared-download"),
    path("s/<str:token>/media/sources/<uuid:source_id>", media.shared_source_file, name="shared-source"),
    path("s/<str:token>/media/sources/<uuid:source_id>/thumbnail", media.shared_source_file, {"thumbnail": True}, name="shared-source-thumbnail"),
    path("s/<str:token>/media/outputs/<uuid:output_id>", media.shared_output_file, name="shared-output"),
    path("s/<str:token>/media/outputs/<uuid:output_id>/thumbnail", media.shared_output_file, {"thumbnail": True}, name="shared-output-thumbnail"),
]
