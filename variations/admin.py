from django.contrib import admin

from .models import ApiToken, Board, Invitation, Output, ShareLink, Source, TeamMember, Variation


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("sha256", "width", "height", "format", "uploaded_by", "created_at")
    search_fields = ("sha256",)
    readonly_fields = ("sha256", "wavespeed_url", "wavespeed_uploaded_at")


class OutputInline(admin.TabularInline):
    model = Output
    extra = 0
    readonly_fields = ("index", "image", "thumbnail", "width", "height", "format", "nsfw")


@admin.register(Variation)
class VariationAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "source", "owner", "size", "seed", "num_images", "created_at", "inference_ms")
    list_filter = ("status", "output_format", "enable_safety_checker")
    search_fields = ("id", "prediction_id")
    raw_id_fields = ("source", "rerun_of")
    inlines = [OutputInline]


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ("variation", "index", "width", "height", "format", "nsfw", "starred")
    list_filter = ("nsfw", "starred", "format")
    raw_id_fields = ("variation",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "digest")


@admin.register(TeamMember)
class TeamMemberAdmin(admin.ModelAdmin):
    list_display = ("user", "role")
    list_filter = ("role",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("note", "role", "created_by", "created_at", "expires_at", "used_by", "revoked_at")
    readonly_fields = ("digest",)


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at", "updated_at")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "board", "created_by", "created_at", "expires_at", "revoked_at", "view_count")
    list_filter = ("allow_download", "show_parameters")
    readonly_fields = ("nonce", "digest", "password", "view_count", "last_viewed_at")
    raw_id_fields = ("source", "board")
