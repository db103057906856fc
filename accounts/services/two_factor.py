"""Two-factor authentication (TOTP): enrolment, confirmation, disabling."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts import totp as totp_codes
from accounts.models import EventStatus, SecurityAction, User
from accounts.services.events import security_event_record
from accounts.services.lockout import attempt_refused, attempt_reserve, locked_out_error
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import Conflict, ValidationFailed


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


@transaction.atomic
def totp_setup(*, user: User, request: AnyRequest | None = None) -> TotpEnrolment:
    """Start enrolment: a new secret, sealed into the user's row, not yet required at
    login. Shown once (here); confirming with a code switches it on. Running setup again
    before confirming replaces the pending secret."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on; disable it first.", code="totp_already_enabled")
    secret = totp_codes.new_secret()
    User.objects.filter(pk=user.pk).update(
        totp_secret=totp_codes.seal_secret(user_id=user.pk, secret=secret), updated_at=timezone.now()
    )
    audit_record(entity="user", action="totp_setup", actor=user, payload={"id": str(user.pk)})
    return TotpEnrolment(secret=secret, otpauth_uri=totp_codes.provisioning_uri(secret=secret, email=user.email))


@transaction.atomic
def totp_confirm(*, user: User, code: str, request: AnyRequest | None = None) -> User:
    """Switch two-factor authentication on with a valid code from the pending secret."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on.", code="totp_already_enabled")
    if not user.totp_secret:
        raise Conflict("Start with /auth/totp/setup.", code="totp_not_set_up")
    if not totp_codes.verify_and_consume(user=user, code=code):
        raise ValidationFailed.field("code", "The code is not valid or was already used.", code="invalid_otp")
    User.objects.filter(pk=user.pk).update(totp_enabled=True, updated_at=timezone.now())
    audit_record(entity="user", action="totp_enable", actor=user, payload={"id": str(user.pk)})
    security_event_record(action=SecurityAction.TOTP_ENABLED, status=EventStatus.SUCCESS, user=user, request=request)
    user.refresh_from_db()
    return user


def totp_disable(*, user: User, code: str, request: AnyRequest | None = None) -> User:
    """Switch two-factor authentication off; needs a valid code. Wrong codes count as
    failed login attempts (same lockout), so a stolen access token cannot guess its way
    to turning the second factor off."""
    user.refresh_from_db()
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is not on.", code="totp_not_enabled")
    attempt = attempt_reserve(user.pk)
    if not attempt.reserved:
        raise locked_out_error(user=user, attempt=attempt, request=request)
    if not totp_codes.verify_and_consume(user=user, code=code):
        attempt_refused(
            user=user, attempt=attempt, request=request, action=SecurityAction.TOTP_FAILURE, reason="bad_otp_disable"
        )
        raise ValidationFailed.field("code", "The code is not valid or was already used.", code="invalid_otp")
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            totp_enabled=False, totp_secret="", failed_login_attempts=0, locked_until=None, updated_at=timezone.now()
        )
        audit_record(entity="user", action="totp_disable", actor=user, payload={"id": str(user.pk)})
        security_event_record(
            action=SecurityAction.TOTP_DISABLED, status=EventStatus.SUCCESS, user=user, request=request
        )
    user.refresh_from_db()
    return user
