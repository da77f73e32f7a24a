from django.contrib import admin

from .models import LedgerEntry, Output, Source, Variation


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("sha256", "width", "height", "format", "uploaded_by", "created_at")
    search_fields = ("sha256",)
    readonly_fields = ("sha256", "wavespeed_url", "wavespeed_uploaded_at", "wavespeed_upload_for")


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


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The spending ledger, read only: what was charged stays charged (variations.ledger)."""

    list_display = ("created_at", "kind", "amount_usd", "quoted", "owner_name", "prediction_id", "job")
    list_filter = ("kind", "quoted")
    search_fields = ("prediction_id", "owner_name")
    raw_id_fields = ("job", "owner")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
