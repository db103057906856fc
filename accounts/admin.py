from django.contrib import admin

from accounts.models import Invitation, PasswordReset, SecurityEvent, Session, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "role", "verified", "is_active", "is_staff", "locked_until", "last_login"]
    list_filter = ["role", "verified", "is_active", "is_staff"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    # Secrets (password hash, TOTP secret) are never rendered.
    exclude = ["password", "totp_secret", "totp_last_step", "user_permissions"]
    readonly_fields = ["id", "created_at", "updated_at", "last_login", "failed_login_attempts"]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "last_used", "expires_at", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    exclude = ["refresh_token_hash"]
    raw_id_fields = ["user", "replaced_by"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["id", "role", "uses", "max_uses", "expires_at", "created_by", "revoked_at"]
    exclude = ["code_hash"]
    list_select_related = ["created_by"]


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "status", "user", "ip_address"]
    list_filter = ["status", "action"]
    search_fields = ["user__email", "action", "resource"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PasswordReset)
class PasswordResetAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "expires_at", "used"]
    exclude = ["token_hash"]
    raw_id_fields = ["user"]
