"""Accounts: users, their login sessions, invitations, security events, password resets."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.ids import uuid7
from core.models import UUIDModel, choices_check


def totp_context(user_id) -> str:
    """Associated data sealing a user's TOTP secret (core.crypto box): binds it to the row."""
    return f"users.totp_secret|{user_id}"


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    USER = "user", "User"
    VIEWER = "viewer", "Viewer"


class UserQuerySet(models.QuerySet):
    def locked(self, now=None):
        return self.filter(locked_until__gt=now or timezone.now())


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]  # a base built at run time; the stubs plugin cannot follow from_queryset on BaseUserManager
    """Creation goes through accounts.services so it is validated and audited everywhere
    (createsuperuser included)."""

    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email=(email or "").strip().lower())

    def create_user(self, email, password=None, **extra):
        from accounts.services import user_create

        return user_create(email=email, password=password, actor=None, **extra)

    def create_superuser(self, email, password=None, **extra):
        from accounts.services import user_create

        extra.setdefault("role", Role.ADMIN)
        extra.update(is_staff=True, is_superuser=True, verified=True)
        return user_create(email=email, password=password, actor=None, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person or service account. Logs in with e-mail; role decides API rights,
    is_staff opens the admin console (role=admin implies it)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Stored lower-case (check constraint below), so this plain unique index is
    # case-insensitive uniqueness and serves equality lookups directly.
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    verified = models.BooleanField(default=False)
    # Envelope-sealed (core.crypto one-column box); never rendered or returned.
    totp_secret = models.TextField(blank=True, default="")
    totp_enabled = models.BooleanField(default=False)
    # RFC 6238 time step of the last accepted code: a code is never accepted twice.
    totp_last_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    failed_login_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()

    class Meta:
        db_table = "users"
        ordering = ["email"]
        indexes = [
            models.Index(fields=["role"], name="users_role_idx"),
            models.Index(fields=["verified"], name="users_verified_idx"),
            # The console's user list drills down by sign-up date (date hierarchy).
            models.Index(fields=["created_at"], name="users_created_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="users_email_lowercase_check"),
            choices_check("role", Role, "users"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.role in (Role.ADMIN, Role.USER)

    def is_locked(self, now=None) -> bool:
        return bool(self.locked_until and self.locked_until > (now or timezone.now()))


class RevokeReason(models.TextChoices):
    """Why a session ended early (sessions.revoked_reason)."""

    LOGOUT = "logout", "Logged out"
    ROTATED = "rotated", "Refresh token rotated"
    TOKEN_REUSE = "token_reuse", "Rotated refresh token presented again"
    PASSWORD_CHANGE = "password_change", "Password changed"
    PASSWORD_RESET = "password_reset", "Password reset"
    DEACTIVATED = "deactivated", "Account deactivated"
    REVOKED = "revoked", "Revoked by its user"
    ADMIN = "admin", "Revoked by an administrator"


class SessionQuerySet(models.QuerySet):
    def active(self, now=None):
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())

    def expired(self, now=None):
        return self.filter(expires_at__lte=now or timezone.now())


class Session(models.Model):
    """A login: one refresh token (stored as its SHA-256 only) and the access tokens
    minted from it. Revoking the row kills both at once."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    refresh_token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    device_info = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    # When this login last changed something: its reads stay on the primary database for
    # REPLICA_STICKY_SECONDS after (read-your-writes with a read replica).
    last_write_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, default="", choices=RevokeReason.choices)
    # Set when this session was rotated into a new one: presenting its refresh token
    # again is token theft.
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        db_table = "sessions"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user"], name="sessions_user_idx"),
            models.Index(fields=["expires_at"], name="sessions_expires_at_idx"),
        ]
        constraints = [
            # Empty while the session is live; one of RevokeReason once it is revoked.
            models.CheckConstraint(
                condition=models.Q(revoked_reason="") | models.Q(revoked_reason__in=RevokeReason.values),
                name="sessions_revoked_reason_check",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_reason="")
                | models.Q(revoked_at__isnull=False) & ~models.Q(revoked_reason=""),
                name="sessions_revoked_consistent_check",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class InvitationStatus(models.TextChoices):
    """Derived, not stored: what registering with the code would meet right now."""

    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    USED_UP = "used_up", "Used up"
    REVOKED = "revoked", "Revoked"


class InvitationQuerySet(models.QuerySet):
    def expired(self, now=None):
        return self.filter(expires_at__lte=now or timezone.now())

    def usable(self, now=None):
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now(), uses__lt=models.F("max_uses"))

    def with_status(self, status: str, now=None):
        now = now or timezone.now()
        if status == InvitationStatus.REVOKED:
            return self.filter(revoked_at__isnull=False)
        live = self.filter(revoked_at__isnull=True)
        if status == InvitationStatus.EXPIRED:
            return live.filter(expires_at__lte=now)
        if status == InvitationStatus.USED_UP:
            return live.filter(expires_at__gt=now, uses__gte=models.F("max_uses"))
        return self.usable(now)


class Invitation(UUIDModel):
    """A registration code (stored as its SHA-256 only) for a role, usable max_uses times."""

    code_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.USER)
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="invitations_created", db_index=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        db_table = "invitations"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["expires_at"], name="invitations_expires_at_idx"),
            models.Index(fields=["created_by"], name="invitations_created_by_idx"),
        ]
        constraints = [
            choices_check("role", Role, "invitations"),
            # The last line of defence for "uses never exceeds max_uses".
            models.CheckConstraint(
                condition=models.Q(uses__lte=models.F("max_uses")), name="invitations_uses_within_max_check"
            ),
            models.CheckConstraint(condition=models.Q(max_uses__gte=1), name="invitations_max_uses_positive_check"),
        ]

    def status(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.expires_at <= now:
            return InvitationStatus.EXPIRED
        if self.uses >= self.max_uses:
            return InvitationStatus.USED_UP
        return InvitationStatus.ACTIVE

    def __str__(self) -> str:
        return f"invitation {self.pk} ({self.role}, {self.uses}/{self.max_uses})"


class EventStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class SecurityAction(models.TextChoices):
    """What a security event records (audit_logs.action; also the audit chain action)."""

    REGISTER = "register", "Registration"
    EMAIL_VERIFIED = "email_verified", "E-mail verified"
    LOGIN_SUCCESS = "login_success", "Login succeeded"
    LOGIN_FAILURE = "login_failure", "Login failed"
    LOGIN_LOCKED = "login_locked", "Login refused: account locked"
    LOCKOUT = "lockout", "Account locked after repeated failures"
    UNLOCK = "unlock", "Account unlocked"
    TOKEN_REUSE = "token_reuse", "Rotated refresh token reused"
    LOGOUT = "logout", "Logout"
    SESSION_REVOKED = "session_revoked", "Session revoked"
    SESSIONS_REVOKED = "sessions_revoked", "Sessions revoked"
    PASSWORD_CHANGE = "password_change", "Password changed"
    PASSWORD_RESET_REQUEST = "password_reset_request", "Password reset requested"
    PASSWORD_RESET = "password_reset", "Password reset"
    ROLE_CHANGE = "role_change", "Role changed"
    USER_UPDATE = "user_update", "Account changed by an administrator"
    USER_DEACTIVATED = "user_deactivated", "Account deactivated"
    USER_ACTIVATED = "user_activated", "Account reactivated"
    TOTP_ENABLED = "totp_enabled", "Two-factor authentication enabled"
    TOTP_DISABLED = "totp_disabled", "Two-factor authentication disabled"
    TOTP_FAILURE = "totp_failure", "Wrong two-factor code"


class SecurityEvent(models.Model):
    """Security-relevant happenings (logins, lockouts, token reuse, ...), with IP and
    user agent. Append-only; each is also an entry in the audit chain."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="security_events", db_index=False
    )
    action = models.CharField(max_length=64, choices=SecurityAction.choices)
    resource = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=EventStatus.choices)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user"], name="audit_logs_user_idx"),
            models.Index(fields=["action"], name="audit_logs_action_idx"),
            models.Index(fields=["created_at"], name="audit_logs_created_at_idx"),
        ]
        constraints = [
            choices_check("status", EventStatus, "audit_logs"),
            choices_check("action", SecurityAction, "audit_logs"),
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.status})"


class PasswordResetQuerySet(models.QuerySet):
    def usable(self, now=None):
        return self.filter(used=False, expires_at__gt=now or timezone.now())


class PasswordReset(UUIDModel):
    """A single-use reset token (stored as its SHA-256 only). Also the "set your
    password" link of an account an administrator created without a password."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_resets", db_index=False)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)

    objects = PasswordResetQuerySet.as_manager()

    class Meta:
        db_table = "password_resets"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user"], name="password_resets_user_idx"),
            models.Index(fields=["expires_at"], name="password_resets_expires_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(used=False, used_at__isnull=True) | models.Q(used=True, used_at__isnull=False),
                name="password_resets_used_consistent_check",
            ),
        ]

    def __str__(self) -> str:
        return f"password reset {self.pk} of {self.user_id}"
