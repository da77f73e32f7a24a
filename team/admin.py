from django.contrib import admin

from .models import ApiToken, Invitation, TeamMember


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
