"""Passwords: change, and reset by e-mailed single-use token."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone

from accounts import emails, tokens
from accounts.models import EventStatus, PasswordReset, RevokeReason, SecurityAction, Session, User
from accounts.services.events import security_event_record
from accounts.services.lockout import attempt_refused, attempt_release, attempt_reserve, locked_out_error
from accounts.services.sessions import sessions_revoke_all
from accounts.services.users import SITE_NAME, check_password_rules, hash_password, normalize_email
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import ValidationFailed


def password_change(
    *,
    user: User,
    current_password: str,
    new_password: str,
    current_session: Session | None = None,
    request: AnyRequest | None = None,
) -> None:
    """Change one's own password: the current one is checked under the login lockout
    rules (a stolen access token cannot guess it), the new one must pass the password
    validators, and every other session is revoked."""
    attempt = attempt_reserve(user.pk)
    if not attempt.reserved:
        raise locked_out_error(user=user, attempt=attempt, request=request)
    if not check_password(current_password or "", user.password):
        attempt_refused(
            user=user, attempt=attempt, request=request, action=SecurityAction.PASSWORD_CHANGE, reason="bad_password"
        )
        raise ValidationFailed.field("current_password", "The current password is not correct.")
    try:
        check_password_rules(new_password, user, field="new_password")
    except ValidationFailed:
        attempt_release(user.pk)
        raise
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            password=hash_password(new_password), failed_login_attempts=0, locked_until=None, updated_at=timezone.now()
        )
        audit_record(entity="user", action="password_change", actor=user, payload={"id": str(user.pk)})
        revoked = sessions_revoke_all(
            user=user,
            reason=RevokeReason.PASSWORD_CHANGE,
            actor=user,
            request=request,
            keep=current_session if isinstance(current_session, Session) else None,
            record=False,
        )
        security_event_record(
            action=SecurityAction.PASSWORD_CHANGE,
            status=EventStatus.SUCCESS,
            user=user,
            request=request,
            details={"sessions_revoked": revoked},
        )


# One reset e-mail per account per this interval, whoever asks (no inbox flooding).
PASSWORD_RESET_MIN_INTERVAL = timedelta(seconds=60)


def _password_reset_issue(*, user: User, ttl: timedelta, actor: User | None) -> str:
    """A new single-use reset token for `user` (earlier unused ones expire now)."""
    now = timezone.now()
    PasswordReset.objects.filter(user=user, used=False, expires_at__gt=now).update(expires_at=now)
    token = tokens.new_secret()
    reset = PasswordReset.objects.create(user=user, token_hash=tokens.hash_secret(token), expires_at=now + ttl)
    audit_record(
        entity="password_reset",
        action="create",
        actor=actor,
        payload={"id": str(reset.pk), "user": str(user.pk), "expires_at": reset.expires_at},
    )
    return token


@transaction.atomic
def password_reset_request(*, email: str, request: AnyRequest | None = None) -> None:
    """Send a reset link to an active account. Answers the same whether or not the
    address exists (the API says 202 either way)."""
    try:
        email = normalize_email(email)
    except ValidationFailed:
        return
    user = User.objects.select_for_update().filter(email=email, is_active=True).first()
    if user is None:
        security_event_record(
            action=SecurityAction.PASSWORD_RESET_REQUEST,
            status=EventStatus.FAILURE,
            request=request,
            resource=email,
            details={"reason": "unknown_email"},
        )
        return
    recent = PasswordReset.objects.filter(user=user, created_at__gt=timezone.now() - PASSWORD_RESET_MIN_INTERVAL)
    if recent.exists():
        security_event_record(
            action=SecurityAction.PASSWORD_RESET_REQUEST,
            status=EventStatus.FAILURE,
            user=user,
            request=request,
            details={"reason": "too_soon"},
        )
        return
    token = _password_reset_issue(user=user, ttl=settings.PASSWORD_RESET_TTL, actor=None)
    security_event_record(
        action=SecurityAction.PASSWORD_RESET_REQUEST, status=EventStatus.SUCCESS, user=user, request=request
    )
    emails.send_after_commit(
        "password_reset",
        to=user.email,
        context={
            "site_name": SITE_NAME,
            "name": user.name,
            "email": user.email,
            "link": emails.frontend_link("reset-password", token=token),
            "valid_minutes": int(settings.PASSWORD_RESET_TTL.total_seconds() // 60),
        },
    )


@transaction.atomic
def password_reset_confirm(*, token: str, new_password: str, request: AnyRequest | None = None) -> User:
    """Set a new password with a reset token: single use (the reset row is locked, so two
    requests with one token cannot both succeed), expiring, and it revokes every
    session. It also proves the mailbox, so the account counts as verified, and lifts
    a lockout."""
    reset = (
        PasswordReset.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(token_hash=tokens.hash_secret(token or ""))
        .first()
    )
    if reset is None or not reset.user.is_active:
        raise ValidationFailed.field("token", "This reset link is not valid.", code="invalid_token")
    if reset.used:
        raise ValidationFailed.field("token", "This reset link was already used.", code="token_used")
    if reset.expires_at <= timezone.now():
        raise ValidationFailed.field("token", "This reset link has expired.", code="token_expired")
    user = reset.user
    check_password_rules(new_password, user, field="new_password")
    now = timezone.now()
    PasswordReset.objects.filter(pk=reset.pk).update(used=True, used_at=now)
    User.objects.filter(pk=user.pk).update(
        password=hash_password(new_password), failed_login_attempts=0, locked_until=None, verified=True, updated_at=now
    )
    audit_record(
        entity="user", action="password_reset", actor=user, payload={"id": str(user.pk), "reset": str(reset.pk)}
    )
    revoked = sessions_revoke_all(
        user=user, reason=RevokeReason.PASSWORD_RESET, actor=user, request=request, record=False
    )
    security_event_record(
        action=SecurityAction.PASSWORD_RESET,
        status=EventStatus.SUCCESS,
        user=user,
        request=request,
        details={"sessions_revoked": revoked},
    )
    user.refresh_from_db()
    return user
