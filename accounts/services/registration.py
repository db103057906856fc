"""Accounts made by someone: an admin's creation (with a set-password e-mail),
self-registration (open or by invitation), and e-mail verification.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from accounts import emails, tokens
from accounts.models import EventStatus, Role, SecurityAction, User
from accounts.services.events import security_event_record
from accounts.services.invitations import invitation_consume
from accounts.services.passwords import _password_reset_issue
from accounts.services.users import SITE_NAME, check_password_rules, hash_password, normalize_email, user_create
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import Conflict, ValidationFailed


@transaction.atomic
def user_create_by_admin(
    *,
    email: str,
    actor: User | None,
    name: str = "",
    role: str = Role.USER,
    password: str | None = None,
    is_staff: bool = False,
    request: AnyRequest | None = None,
) -> User:
    """An account created by an administrator: verified. Without a password, its owner
    gets a one-time "choose your password" link (valid EMAIL_VERIFICATION_TTL)."""
    user = user_create(
        email=email, password=password, actor=actor, name=name, role=role, verified=True, is_staff=is_staff
    )
    if not password:
        token = _password_reset_issue(user=user, ttl=settings.EMAIL_VERIFICATION_TTL, actor=actor)
        emails.send_after_commit(
            "account_created",
            to=user.email,
            context={
                "site_name": SITE_NAME,
                "name": user.name,
                "email": user.email,
                "role": user.role,
                "link": emails.frontend_link("reset-password", token=token),
                "valid_hours": int(settings.EMAIL_VERIFICATION_TTL.total_seconds() // 3600),
            },
        )
    return user


@transaction.atomic
def register(
    *, email: str, password: str, name: str = "", invitation_code: str | None = None, request: AnyRequest | None = None
) -> User:
    """Self-registration: with an invitation code (the user gets its role), or without
    one when OPEN_REGISTRATION is on (role user). The new account is unverified; the
    verification e-mail leaves after commit. All or nothing: a failure (duplicate
    e-mail, weak password) gives the invitation use back."""
    email = normalize_email(email)
    if not invitation_code and not settings.OPEN_REGISTRATION:
        raise ValidationFailed.field(
            "invitation_code", "Registration needs an invitation code.", code="invitation_required"
        )
    check_password_rules(password, User(email=email, name=name or ""))
    if User.objects.filter(email=email).exists():
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]})
    # Hash before taking the invitation's row lock: concurrent registrations then hold
    # it only for a few inserts, not for a password hash each.
    password_hash = hash_password(password)
    invitation_id, role = invitation_consume(invitation_code) if invitation_code else (None, Role.USER)
    user = user_create(email=email, password=None, password_hash=password_hash, name=name, role=role, actor=None)
    if invitation_id:
        audit_record(entity="invitation", action="use", actor=user, payload={"id": invitation_id, "user": str(user.pk)})
    security_event_record(
        action=SecurityAction.REGISTER,
        status=EventStatus.SUCCESS,
        user=user,
        request=request,
        details={"invitation": invitation_id, "role": role},
    )
    email_verification_send(user=user)
    return user


def email_verification_send(*, user: User) -> None:
    """Queue the verification e-mail (after commit)."""
    token = tokens.make_email_verification_token(user)
    emails.send_after_commit(
        "verify_email",
        to=user.email,
        context={
            "site_name": SITE_NAME,
            "name": user.name,
            "email": user.email,
            "token": token,
            "link": emails.frontend_link("verify-email", token=token),
            "valid_hours": int(settings.EMAIL_VERIFICATION_TTL.total_seconds() // 3600),
        },
    )


def email_verification_resend(*, email: str, request: AnyRequest | None = None) -> None:
    """Send a fresh verification e-mail to an unverified, active account. Says nothing
    about whether the address exists (the API answers 202 either way)."""
    try:
        email = normalize_email(email)
    except ValidationFailed:
        return
    user = User.objects.filter(email=email, is_active=True, verified=False).first()
    if user is not None:
        email_verification_send(user=user)


@transaction.atomic
def email_verify(*, token: str, request: AnyRequest | None = None) -> User:
    """Mark the address in a verification token as verified. Idempotent for an already
    verified account; a token for an address the account no longer has is invalid."""
    try:
        user_id, email = tokens.read_email_verification_token(token)
    except signing.SignatureExpired:
        raise ValidationFailed.field("token", "This verification link has expired.", code="token_expired") from None
    except signing.BadSignature:
        raise ValidationFailed.field("token", "This verification link is not valid.", code="invalid_token") from None
    user = User.objects.select_for_update().filter(pk=user_id, email=email).first()
    if user is None:
        raise ValidationFailed.field("token", "This verification link is not valid.", code="invalid_token")
    if not user.verified:
        User.objects.filter(pk=user.pk).update(verified=True, updated_at=timezone.now())
        user.verified = True
        audit_record(entity="user", action="verify_email", actor=user, payload={"id": str(user.pk), "email": email})
        security_event_record(
            action=SecurityAction.EMAIL_VERIFIED, status=EventStatus.SUCCESS, user=user, request=request
        )
    return user
