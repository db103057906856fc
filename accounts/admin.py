"""Admin console for accounts. Every change goes through accounts.services (validated,
locked, audited like the API); secrets (password hashes, TOTP secrets, token and code
hashes) are never rendered; security events and password resets are read-only.

Who may do what: staff with `change_user` (Operators) unlock users and sign them out and
may edit a name; role, activity, verification, console access and groups are for
role=admin only (the services refuse them to anyone else, and the form shows them
read-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.utils import timezone

from accounts import services
from accounts.forms import InvitationAddForm, UserAddForm, UserChangeForm
from accounts.models import (
    Invitation,
    InvitationStatus,
    PasswordReset,
    RevokeReason,
    Role,
    SecurityEvent,
    Session,
    User,
)
from core.admin_tools import BigTableAdmin, ReadOnlyAdmin
from core.exceptions import DomainError


def is_account_admin(user) -> bool:
    """role=admin (superusers are administrators too): may change roles, activity,
    verification, console access and groups."""
    return bool(user.is_active and (user.is_superuser or getattr(user, "role", None) == Role.ADMIN))


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
class UserAdmin(ServiceSavedAdmin, BigTableAdmin):
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
        "created_at",
    ]
    list_filter = ["role", "verified", LockedFilter, "is_active", "is_staff", "totp_enabled", "groups"]
    search_fields = ["email", "name", "=id"]
    ordering = ["email"]
    sortable_by = ["email", "role"]
    date_hierarchy = "created_at"
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

    def has_account_admin_permission(self, request) -> bool:
        return is_account_admin(request.user)

    filter_horizontal = ["groups"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = UserChangeForm if obj is not None else UserAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.order_by("name")
            kwargs["help_text"] = (
                "Console groups (docs/admin.md): Auditors read everything, Operators also run the day-to-day "
                "actions. role=admin holds every permission anyway; role=viewer only ever reads."
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["email", "name", "role", "is_staff", "password"]
        fields = [*UserChangeForm.Meta.fields]
        if is_account_admin(request.user):
            fields.append("groups")
        else:
            fields.append("group_names")
        return [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if is_account_admin(request.user):
            return self.readonly_fields
        # Operators: the name only (the services refuse the rest to non-administrators).
        return [*self.readonly_fields, "role", "is_active", "verified", "is_staff", "group_names"]

    @admin.display(description="groups")
    def group_names(self, user: User) -> str:
        return ", ".join(user.groups.order_by("name").values_list("name", flat=True)) or "—"

    def has_add_permission(self, request):
        # Creating accounts (with a role) is an administrator's act, as in the API.
        return is_account_admin(request.user) and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are deactivated, never deleted (their history stays attributable)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                changes = {field: form.cleaned_data[field] for field in form.changed_data if field != "groups"}
                saved = obj
                if changes:
                    saved = services.user_update(user=obj, actor=request.user, request=request, **changes)
                if "groups" in form.changed_data:
                    services.user_set_groups(
                        user=saved, groups=form.cleaned_data["groups"], actor=request.user, request=request
                    )
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

    def save_related(self, request, form, formsets, change):
        # Groups were set by the service above, never by the form's save_m2m.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description="Unlock selected users", permissions=["workflow"])
    def unlock_users(self, request, queryset):
        done = 0
        for user in queryset.order_by("pk"):
            services.user_unlock(user=user, actor=request.user, request=request)
            done += 1
        _report(self, request, done, "Unlocked", [])

    @admin.action(description="Sign selected users out everywhere", permissions=["workflow"])
    def revoke_sessions(self, request, queryset):
        done = 0
        for user in queryset.order_by("pk"):
            services.sessions_revoke_all(user=user, reason=RevokeReason.ADMIN, actor=request.user, request=request)
            done += 1
        _report(self, request, done, "Signed out", [])

    @admin.action(description="Deactivate selected users (and sign them out)", permissions=["account_admin"])
    def deactivate_users(self, request, queryset):
        done, errors = 0, []
        for user in queryset.filter(is_active=True).order_by("pk"):
            try:
                services.user_update(user=user, actor=request.user, request=request, is_active=False)
                done += 1
            except DomainError as exc:
                errors.append(f"{user.email}: {exc.message}")
        _report(self, request, done, "Deactivated", errors)


class LiveSessionFilter(admin.SimpleListFilter):
    title = "live"
    parameter_name = "live"

    def lookups(self, request, model_admin):
        return [("yes", "Live (not revoked, not expired)"), ("no", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.active()
        if self.value() == "no":
            return queryset.filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=timezone.now()))
        return queryset


@admin.register(Session)
class SessionAdmin(BigTableAdmin, ReadOnlyAdmin):
    """Login sessions; the refresh token's hash is never shown. Revoking is the action."""

    list_display = ["id", "user", "created_at", "last_used", "expires_at", "revoked_at", "revoked_reason"]
    list_filter = [LiveSessionFilter, "revoked_reason"]
    list_select_related = ["user"]
    search_fields = ["=user__email", "=id"]
    # By expiry, the indexed time (created_at has no index; a session's expiry follows its
    # creation by the refresh lifetime, so this is newest first too).
    ordering = ["-expires_at"]
    sortable_by = ["expires_at"]
    date_hierarchy = "expires_at"
    fields = ["id", "user", "created_at", "last_used", "expires_at", "revoked_at", "revoked_reason", "device_info"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.action(description="Revoke selected sessions", permissions=["workflow"])
    def revoke(self, request, queryset):
        done = 0
        for session in queryset.select_related("user").order_by("pk"):
            done += services.session_revoke(
                session=session, reason=RevokeReason.ADMIN, actor=request.user, request=request
            )
        self.message_user(request, f"Revoked {done} session(s).", messages.SUCCESS)


class InvitationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return InvitationStatus.choices

    def queryset(self, request, queryset):
        if self.value() in InvitationStatus.values:
            return queryset.with_status(self.value())
        return queryset


@admin.register(Invitation)
class InvitationAdmin(ServiceSavedAdmin):
    """The code is shown once, in the message after creation; only its hash is stored."""

    list_display = ["id", "role", "uses", "max_uses", "expires_at", "status", "created_by", "created_at", "revoked_at"]
    list_filter = [InvitationStatusFilter, "role"]
    list_select_related = ["created_by"]
    search_fields = ["=id", "created_by__email"]
    date_hierarchy = "created_at"
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

    @admin.action(description="Revoke selected invitations", permissions=["workflow"])
    def revoke(self, request, queryset):
        done = 0
        for invitation in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            services.invitation_revoke(invitation=invitation, actor=request.user, request=request)
            done += 1
        self.message_user(request, f"Revoked {done} invitation(s).", messages.SUCCESS)


@admin.register(SecurityEvent)
class SecurityEventAdmin(BigTableAdmin, ReadOnlyAdmin):
    """Append-only. Exact-match search (e-mail, IP, resource): the table only grows."""

    list_display = ["created_at", "action", "status", "user", "ip_address", "resource"]
    list_filter = ["status", "action"]
    search_fields = ["=user__email", "=resource", "=ip_address"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    sortable_by = ["created_at"]


@admin.register(PasswordReset)
class PasswordResetAdmin(ReadOnlyAdmin):
    """The token's hash is never shown."""

    list_display = ["id", "user", "created_at", "expires_at", "used", "used_at", "usable"]
    list_filter = ["used"]
    list_select_related = ["user"]
    search_fields = ["=user__email"]
    date_hierarchy = "created_at"
    fields = ["id", "user", "created_at", "expires_at", "used", "used_at"]

    @admin.display(boolean=True)
    def usable(self, reset: PasswordReset) -> bool:
        return not reset.used and reset.expires_at > timezone.now()
