from django.contrib import admin

from .models import Output, Source, Variation


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
