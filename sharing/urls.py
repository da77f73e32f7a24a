from django.urls import path

from .views import boards, media, pick_review, picks, share_email, shared, shares

urlpatterns = [
    path("boards/", boards.board_list, name="boards"),
    path("boards/new", boards.create_board, name="board-create"),
    path("boards/pick", boards.pick_board, name="board-pick"),
    path("boards/<int:board_id>/", boards.board_page, name="board"),
    path("boards/<int:board_id>/rename", boards.rename_board, name="board-rename"),
    path("boards/<int:board_id>/delete", boards.delete_board, name="board-delete"),
    path("boards/<int:board_id>/items", boards.board_items_change, name="board-items"),
    path("boards/<int:board_id>/cover", boards.choose_cover, name="board-cover"),
    path("boards/<int:board_id>/download.zip", boards.board_zip, name="board-download"),
    path("shares/", shares.share_list, name="shares"),
    path("shares/new", shares.new_share, name="share-new"),
    path("shares/<int:share_id>/", shares.share_detail, name="share-detail"),
    path("shares/<int:share_id>/revoke", shares.revoke_share, name="share-revoke"),
    path("shares/hand-over/<int:user_id>", shares.hand_over, name="share-hand-over"),
    path("shares/<int:share_id>/email", share_email.email_link, name="share-email"),
    path("shares/<int:share_id>/picking", pick_review.picking_rules, name="share-picking"),
    path("shares/<int:share_id>/picks.csv", pick_review.picks_csv, name="share-picks-csv"),
    path("shares/<int:share_id>/picks/<int:pick_id>/hide", pick_review.hide_comment, name="share-pick-hide"),
    path("shares/<int:share_id>/visitors/<int:visitor_id>/reopen", pick_review.reopen_selection, name="share-visitor-reopen"),
    path("shares/<int:share_id>/vary-picks", pick_review.vary_the_picks, name="share-vary-picks"),
    # What a share link shows, to anyone holding it (no account): read-only, its own media URLs.
    path("s/<str:token>/", shared.shared, name="shared"),
    path("s/<str:token>/download.zip", media.shared_zip, name="shared-download"),
    path("s/<str:token>/picks", picks.picks, name="shared-picks"),
    path("s/<str:token>/picks/confirm", picks.confirm_picks, name="shared-picks-confirm"),
    path("s/<str:token>/media/sources/<uuid:source_id>", media.shared_source_file, name="shared-source"),
    path("s/<str:token>/media/sources/<uuid:source_id>/thumbnail", media.shared_source_file, {"thumbnail": True}, name="shared-source-thumbnail"),
    path("s/<str:token>/media/outputs/<uuid:output_id>", media.shared_output_file, name="shared-output"),
    path("s/<str:token>/media/outputs/<uuid:output_id>/thumbnail", media.shared_output_file, {"thumbnail": True}, name="shared-output-thumbnail"),
    path("s/<str:token>/media/sources/<uuid:source_id>/preview", media.shared_source_file, {"preview": True}, name="shared-source-preview"),
    path("s/<str:token>/media/outputs/<uuid:output_id>/preview", media.shared_output_file, {"preview": True}, name="shared-output-preview"),
]
