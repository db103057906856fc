"""Input and output shapes of the accounts API. Inputs are strict: a number where text is
expected, "yes" for a boolean, or (on PATCH) a field that cannot be changed is a 400,
never silently coerced or ignored."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import (
    EventStatus,
    Invitation,
    InvitationStatus,
    RevokeReason,
    Role,
    SecurityAction,
    SecurityEvent,
    Session,
    User,
)
from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput

# ---------------------------------------------------------------------------------------
# Strict fields


class StrictCharField(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def password_field(**kwargs) -> StrictCharField:
    return StrictCharField(
        max_length=4096, trim_whitespace=False, write_only=True, style={"input_type": "password"}, **kwargs
    )


class Input(TypedInput):
    """Base of request bodies: keys the endpoint does not take are refused (TypedInput)."""


# ---------------------------------------------------------------------------------------
# Users


class UserOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "role",
            "verified",
            "is_active",
            "is_staff",
            "totp_enabled",
            "settings",
            "created_at",
            "updated_at",
            "last_login",
        ]
        read_only_fields = fields


class AdminUserOutput(UserOutput):
    """What an administrator sees of an account: adds the lockout state."""

    locked = serializers.SerializerMethodField()

    class Meta(UserOutput.Meta):
        fields = [*UserOutput.Meta.fields, "is_superuser", "failed_login_attempts", "locked_until", "locked"]
        read_only_fields = fields

    def get_locked(self, user: User) -> bool:
        return user.is_locked()


class MeUpdateInput(Input):
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    settings = serializers.DictField(required=False)


class AdminUserCreateInput(Input):
    email = StrictCharField(max_length=254)
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.USER)
    is_staff = StrictBooleanField(required=False, default=False)
    password = password_field(
        required=False,
        help_text="Optional. Without it the user receives a one-time link to choose a password.",
    )


class AdminUserUpdateInput(Input):
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    is_active = StrictBooleanField(required=False)
    verified = StrictBooleanField(required=False)
    is_staff = StrictBooleanField(required=False)


class RevokedCountOutput(serializers.Serializer):
    revoked = serializers.IntegerField()


# ---------------------------------------------------------------------------------------
# Authentication


class RegisterInput(Input):
    email = StrictCharField(max_length=254)
    password = password_field()
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    invitation_code = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True)


class TokenInput(Input):
    token = StrictCharField(max_length=1000)


class EmailInput(Input):
    email = StrictCharField(max_length=254)


class LoginInput(Input):
    email = StrictCharField(max_length=254)
    password = password_field()
    otp = StrictCharField(max_length=12, required=False, allow_blank=True, allow_null=True)


class TokenOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    access_expires_at = serializers.DateTimeField()
    user = UserOutput()


class RefreshInput(Input):
    refresh = StrictCharField(max_length=200)


class LogoutInput(Input):
    refresh = StrictCharField(
        max_length=200, required=False, help_text="The session to end; default: the one of the access token."
    )


class PasswordChangeInput(Input):
    current_password = password_field()
    new_password = password_field()


class PasswordResetConfirmInput(Input):
    token = StrictCharField(max_length=200)
    new_password = password_field()


class VerifiedOutput(serializers.Serializer):
    verified = serializers.BooleanField()
    email = serializers.EmailField()


class AuthPolicyOutput(serializers.Serializer):
    """What a login or registration form needs to know before anyone logs in."""

    authenticated = serializers.BooleanField()
    open_registration = serializers.BooleanField()
    password_min_length = serializers.IntegerField()
    totp_issuer = serializers.CharField()
    access_token_ttl_seconds = serializers.IntegerField()
    refresh_token_ttl_seconds = serializers.IntegerField()


class AcceptedOutput(serializers.Serializer):
    detail = serializers.CharField()


# ---------------------------------------------------------------------------------------
# Two-factor


class TotpSetupOutput(serializers.Serializer):
    secret = serializers.CharField(help_text="Base32 secret, shown this once.")
    otpauth_uri = serializers.CharField(help_text="otpauth:// URI for a QR code, shown this once.")


class TotpCodeInput(Input):
    code = StrictCharField(max_length=12)


# ---------------------------------------------------------------------------------------
# Sessions


class DeviceInfoOutput(serializers.Serializer):
    user_agent = serializers.CharField(allow_blank=True, required=False)
    ip = serializers.CharField(allow_null=True, required=False)


class SessionOutput(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="This is the session of the access token in use.")
    device_info = DeviceInfoOutput(read_only=True)
    # Empty while the session is live (DRF drops allow_blank from read-only model fields,
    # so the schema would otherwise not admit "").
    revoked_reason = serializers.ChoiceField(choices=RevokeReason.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Session
        fields = [
            "id",
            "created_at",
            "last_used",
            "expires_at",
            "revoked_at",
            "revoked_reason",
            "device_info",
            "current",
        ]
        read_only_fields = fields

    def get_current(self, session: Session) -> bool:
        current = self.context.get("current_session_id")
        return current is not None and session.pk == current


# ---------------------------------------------------------------------------------------
# Invitations


class InvitationCreateInput(Input):
    role = serializers.ChoiceField(choices=Role.choices, default=Role.USER)
    max_uses = StrictIntegerField(min_value=1, max_value=10_000, default=1)
    expires_at = serializers.DateTimeField(required=False, help_text="Default: 7 days from now.")


class UserRefOutput(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()


class InvitationOutput(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    created_by = UserRefOutput(read_only=True, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "role", "max_uses", "uses", "expires_at", "revoked_at", "status", "created_by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=InvitationStatus.choices))
    def get_status(self, invitation: Invitation) -> str:
        return invitation.status()


class InvitationCreatedOutput(InvitationOutput):
    code = serializers.SerializerMethodField(help_text="The invitation code: shown in this response only.")

    class Meta(InvitationOutput.Meta):
        fields = [*InvitationOutput.Meta.fields, "code"]
        read_only_fields = fields

    def get_code(self, invitation: Invitation) -> str:
        return self.context["code"]


# ---------------------------------------------------------------------------------------
# Security events


class SecurityEventOutput(CachedFieldsOutput, serializers.ModelSerializer):
    user = UserRefOutput(read_only=True, allow_null=True)
    action = serializers.ChoiceField(choices=SecurityAction.choices, read_only=True)
    status = serializers.ChoiceField(choices=EventStatus.choices, read_only=True)

    class Meta:
        model = SecurityEvent
        fields = ["id", "user", "action", "resource", "status", "details", "ip_address", "user_agent", "created_at"]
        read_only_fields = fields
