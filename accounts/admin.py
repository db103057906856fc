"""Admin console for accounts. Every change goes through accounts.services (validated,
locked, audited like the API); secrets (password hashes, TOTP secrets, token and code
hashes) are never rendered; security events and password resets are read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils import timezone

from accounts import services
from accounts.forms import AdminLoginForm, InvitationAddForm, UserAddForm, UserChangeForm
from accounts.models import Invitation, PasswordReset, RevokeReason, SecurityEvent, Session, User
from core.exceptions import DomainError

admin.site.login_form = AdminLoginForm


class ServiceSavedAdmin(admin.ModelAdmin):
    """save_model calls a service. When the service refuses (a rule the form cannot see,
    such as "the last active administrator"), its own atomic block has already rolled
    back: the reason is shown, no admin log entry is written, and the form page reloads
    instead of a success message."""

    def refuse(self, request, exc: DomainError) -> None:
        details = "; ".join(
            f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in exc.details.items()
        )
        self.message_user(request, f"Not saved: {exc.message} {details}".strip(), messages.ERROR)
        request._service_refused = True

    def log_addition(self, request, obj, message):
        if not getattr(request, "_service_refused", False):
            return super().log_addition(request, obj, message)
        return None

    def log_change(self, request, obj, message):
        if not getattr(request, "_service_refused", False):
            return super().log_change(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_service_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_service_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)


def _report(modeladmin, request, done: int, verb: str, errors: list[str]) -> None:
    if done:
        modeladmin.message_user(request, f"{verb} {done} user(s).", messages.SUCCESS)
    for error in errors:
        modeladmin.message_user(request, error, messages.ERROR)


class LockedFilter(admin.SimpleListFilter):
    title = "locked out"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", "Locked now"), ("no", "Not locked")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.locked()
        if self.value() == "no":
            return queryset.exclude(pk__in=User.objects.locked().values("pk"))
        return queryset


@admin.register(User)
class UserAdmin(ServiceSavedAdmin):
    list_display = [
        "email",
        "name",
        "role",
        "verified",
        "is_active",
        "is_staff",
        "totp_enabled",
        "locked",
        "last_login",
    ]
    list_filter = ["role", "verified", LockedFilter, "is_active", "is_staff", "totp_enabled"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    show_full_result_count = False
    actions = ["unlock_users", "revoke_sessions", "deactivate_users"]
    # Secrets (password hash, TOTP secret) are never rendered: they are in no form.
    readonly_fields = [
        "id",
        "email",
        "totp_enabled",
        "is_superuser",
        "created_at",
        "updated_at",
        "last_login",
        "failed_login_attempts",
        "locked_until",
    ]

    @admin.display(boolean=True, description="locked")
    def locked(self, user: User) -> bool:
        return user.is_locked()

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = UserChangeForm if obj is not None else UserAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "name", "role", "is_staff", "password"]
        return [*UserChangeForm.Meta.fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are deactivated, never deleted (their history stays attributable)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                changes = {field: form.cleaned_data[field] for field in form.changed_data}
                saved = services.user_update(user=obj, actor=request.user, request=request, **changes)
            else:
                saved = services.user_create_by_admin(
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data.get("name") or "",
                    role=form.cleaned_data["role"],
                    is_staff=form.cleaned_data.get("is_staff") or False,
                    password=form.cleaned_data.get("password") or None,
                    actor=request.user,
                    request=request,
                )
        except DomainError as exc:
            self.refuse(request, exc)
            return
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Unlock selected users")
    def unlock_users(self, request, queryset):
        done = 0
        for user in queryset.order_by("pk"):
            services.user_unlock(user=user, actor=request.user, request=request)
            done += 1
        _report(self, request, done, "Unlocked", [])

    @admin.action(description="Sign selected users out everywhere")
    def revoke_sessions(self, request, queryset):
        done = 0
        for user in queryset.order_by("pk"):
            services.sessions_revoke_all(user=user, reason=RevokeReason.ADMIN, actor=request.user, request=request)
            done += 1
        _report(self, request, done, "Signed out", [])

    @admin.action(description="Deactivate selected users (and sign them out)")
    def deactivate_users(self, request, queryset):
        done, errors = 0, []
        for user in queryset.filter(is_active=True).order_by("pk"):
            try:
                services.user_update(user=user, actor=request.user, request=request, is_active=False)
                done += 1
            except DomainError as exc:
                errors.append(f"{user.email}: {exc.message}")
        _report(self, request, done, "Deactivated", errors)


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "created_at", "last_used", "expires_at", "revoked_at", "revoked_reason"]
    list_filter = ["revoked_reason"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    fields = ["id", "user", "created_at", "last_used", "expires_at", "revoked_at", "revoked_reason", "device_info"]
    readonly_fields = fields
    show_full_result_count = False
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected sessions")
    def revoke(self, request, queryset):
        done = 0
        for session in queryset.select_related("user").order_by("pk"):
            done += services.session_revoke(
                session=session, reason=RevokeReason.ADMIN, actor=request.user, request=request
            )
        self.message_user(request, f"Revoked {done} session(s).", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(ServiceSavedAdmin):
    list_display = ["id", "role", "uses", "max_uses", "expires_at", "status", "created_by", "revoked_at"]
    list_filter = ["role"]
    list_select_related = ["created_by"]
    actions = ["revoke"]
    form = InvitationAddForm

    @admin.display(description="status")
    def status(self, invitation: Invitation) -> str:
        return invitation.status()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["role", "max_uses", "expires_at"]
        return ["id", "role", "uses", "max_uses", "expires_at", "created_by", "created_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj) if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return False  # an invitation never changes; revoke it (action) and create another

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead; the row stays for the record

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            invitation, code = services.invitation_create(
                actor=request.user,
                role=form.cleaned_data["role"],
                max_uses=form.cleaned_data["max_uses"],
                expires_at=form.cleaned_data.get("expires_at") or None,
                request=request,
            )
        except DomainError as exc:
            self.refuse(request, exc)
            return
        obj.pk = invitation.pk
        obj.refresh_from_db()
        # The only time the code is ever shown.
        self.message_user(
            request,
            f"Invitation code (shown once, copy it now): {code}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request, queryset):
        done = 0
        for invitation in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            services.invitation_revoke(invitation=invitation, actor=request.user, request=request)
            done += 1
        self.message_user(request, f"Revoked {done} invitation(s).", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "status", "user", "ip_address", "resource"]
    list_filter = ["status", "action"]
    search_fields = ["user__email", "resource", "ip_address"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(PasswordReset)
class PasswordResetAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "created_at", "expires_at", "used", "used_at", "usable"]
    list_select_related = ["user"]
    search_fields = ["user__email"]
    fields = ["id", "user", "created_at", "expires_at", "used", "used_at"]

    @admin.display(boolean=True)
    def usable(self, reset: PasswordReset) -> bool:
        return not reset.used and reset.expires_at > timezone.now()
