from django.contrib import admin

from .models import Board, ShareLink


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at", "updated_at")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "board", "created_by", "created_at", "expires_at", "revoked_at", "view_count")
    list_filter = ("allow_download", "show_parameters")
    readonly_fields = ("nonce", "digest", "password", "view_count", "last_viewed_at")
    raw_id_fields = ("source", "board")
