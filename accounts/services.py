"""Accounts services: every write to users, sessions, invitations, resets and security
events goes through here, atomic and audited in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import EventStatus, Role, SecurityEvent, Session, User, totp_context
from audits.services import audit_record
from core.exceptions import (
    AccountLocked,
    Conflict,
    EmailUnverified,
    InvalidCredentials,
    ValidationFailed,
)

# ---------------------------------------------------------------------------------------
# Request metadata and security events


def client_meta(request) -> dict:
    """IP address and user agent of a request (or an empty dict outside a request)."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    ip = meta.get("REMOTE_ADDR")
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            ip = forwarded.split(",")[0].strip()
    return {"ip": ip or None, "user_agent": (meta.get("HTTP_USER_AGENT") or "")[:500]}


def security_event_record(
    *,
    action: str,
    status: str,
    user: User | None = None,
    request=None,
    resource: str = "",
    details: dict | None = None,
    actor=None,
) -> SecurityEvent:
    """A security event in accounts.audit_logs and the same event in the audit chain."""
    meta = client_meta(request)
    event = SecurityEvent.objects.create(
        user=user,
        action=action,
        resource=resource,
        status=status,
        details=details or {},
        ip_address=meta.get("ip"),
        user_agent=meta.get("user_agent", ""),
    )
    audit_record(
        entity="security",
        action=action,
        actor=actor if actor is not None else user,
        payload={
            "event": str(event.pk),
            "status": status,
            "user": str(user.pk) if user else None,
            "resource": resource,
            "ip": meta.get("ip"),
            **(details or {}),
        },
    )
    return event


# ---------------------------------------------------------------------------------------
# Users


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.field("email", "Enter a valid e-mail address.") from None
    return email


def _check_password_rules(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed("The password is too weak.", details={"password": exc.messages}) from None


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str | None,
    actor=None,
    name: str = "",
    role: str = Role.USER,
    verified: bool = False,
    is_staff: bool = False,
    is_superuser: bool = False,
    validate: bool = True,
    **extra,
) -> User:
    """Create a user. role=admin implies is_staff. Passwords are validated unless the
    caller already holds a hash (legacy import) or the account gets none (reset needed)."""
    email = normalize_email(email)
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{role}'.")
    if User.objects.filter(email=email).exists():
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]})
    user = User(
        email=email,
        name=name,
        role=role,
        verified=verified,
        is_staff=is_staff or role == Role.ADMIN,
        is_superuser=is_superuser,
        **extra,
    )
    if password:
        if validate:
            _check_password_rules(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save(force_insert=True)
    audit_record(
        entity="user",
        action="create",
        actor=actor,
        payload={
            "id": str(user.pk),
            "email": email,
            "role": role,
            "is_staff": user.is_staff,
            "is_superuser": is_superuser,
            "verified": verified,
        },
    )
    return user


# ---------------------------------------------------------------------------------------
# Login and sessions


@dataclass(frozen=True)
class IssuedTokens:
    session: Session
    access: str
    access_expires_at: datetime
    refresh: str


@transaction.atomic
def session_create(*, user: User, request=None, actor=None) -> IssuedTokens:
    """Open a login session: a refresh token (its hash stored) and an access token."""
    refresh = tokens.new_secret()
    meta = client_meta(request)
    session = Session.objects.create(
        user=user,
        refresh_token_hash=tokens.hash_secret(refresh),
        expires_at=timezone.now() + settings.REFRESH_TOKEN_TTL,
        device_info={"user_agent": meta.get("user_agent", ""), "ip": meta.get("ip")},
    )
    access, expires = tokens.mint_access_token(session.pk)
    audit_record(
        entity="session", action="create", actor=actor or user, payload={"id": str(session.pk), "user": str(user.pk)}
    )
    return IssuedTokens(session=session, access=access, access_expires_at=expires, refresh=refresh)


# A real Argon2 hash of a random password: checking unknown e-mails against it costs the
# same time as checking a real user, so response time reveals nothing (no enumeration).
_DUMMY_HASH: str | None = None


def _burn_hash_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = make_password(tokens.new_secret())
    check_password(password, _DUMMY_HASH)


def _reserve_attempt(user_id) -> tuple[bool, datetime | None]:
    """Count this attempt *before* the password is checked, in one conditional UPDATE.

    Only LOGIN_MAX_FAILURES attempts can hold a reservation before the account locks,
    so a burst of parallel guesses gets at most that many password checks (a
    read-then-write counter would let the whole burst through). The attempt that
    reaches the limit sets locked_until itself; a correct password then lifts it.
    Returns (reserved, locked_until).
    """
    limit = settings.LOGIN_MAX_FAILURES
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE accounts.users SET
                failed_login_attempts = CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_attempts + 1 END,
                locked_until = CASE
                    WHEN (CASE WHEN locked_until <= now() THEN 1 ELSE failed_login_attempts + 1 END) >= %s
                        THEN now() + make_interval(secs => %s)
                    WHEN locked_until <= now() THEN NULL
                    ELSE locked_until END
            WHERE id = %s
              AND (locked_until IS NULL OR locked_until <= now())
              AND (failed_login_attempts < %s OR locked_until <= now())
            RETURNING failed_login_attempts
            """,
            [limit, settings.LOGIN_LOCKOUT_SECONDS, user_id, limit],
        )
        if cursor.fetchone() is not None:
            return True, None
        cursor.execute("SELECT locked_until FROM accounts.users WHERE id = %s", [user_id])
        row = cursor.fetchone()
    return False, row[0] if row else None


def _retry_after(locked_until: datetime | None) -> int:
    if locked_until is None:
        return settings.LOGIN_LOCKOUT_SECONDS
    return max(1, int((locked_until - timezone.now()).total_seconds()) + 1)


def _clear_failures(user: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None)


def password_login(*, request, email: str, password: str, otp: str | None = None, require_staff: bool = False) -> User:
    """Check e-mail + password (+ TOTP when enrolled) under the lockout rules.

    Every outcome is a security event and an audit entry, committed even when the login
    fails (each is its own small transaction). Raises InvalidCredentials (401),
    AccountLocked (423), EmailUnverified (403), OtpRequired (401).
    """
    email_norm = (email or "").strip().lower()
    user = User.objects.filter(email=email_norm).first()
    if user is None:
        _burn_hash_time(password)
        with transaction.atomic():
            security_event_record(
                action="login_failure",
                status=EventStatus.FAILURE,
                request=request,
                resource=email_norm[:200],
                details={"reason": "unknown_email"},
            )
        raise InvalidCredentials()

    reserved, locked_until = _reserve_attempt(user.pk)
    if not reserved:
        with transaction.atomic():
            security_event_record(
                action="login_locked",
                status=EventStatus.FAILURE,
                user=user,
                request=request,
                details={"reason": "account_locked"},
            )
        raise AccountLocked(retry_after=_retry_after(locked_until))

    if not user.check_password(password):  # upgrades a legacy hash (bcrypt) on success
        user.refresh_from_db(fields=["failed_login_attempts", "locked_until"])
        with transaction.atomic():
            security_event_record(
                action="login_failure",
                status=EventStatus.FAILURE,
                user=user,
                request=request,
                details={"reason": "bad_password", "failures": user.failed_login_attempts},
            )
            if user.is_locked():
                security_event_record(
                    action="lockout",
                    status=EventStatus.FAILURE,
                    user=user,
                    request=request,
                    details={"until": user.locked_until.isoformat()},
                )
        raise InvalidCredentials()

    if not user.is_active or (require_staff and not user.is_staff):
        _clear_failures(user)
        with transaction.atomic():
            security_event_record(
                action="login_failure",
                status=EventStatus.FAILURE,
                user=user,
                request=request,
                details={"reason": "inactive" if not user.is_active else "not_staff"},
            )
        raise InvalidCredentials()

    if not user.verified:
        _clear_failures(user)
        raise EmailUnverified()

    from accounts.totp import check_login_otp

    check_login_otp(user=user, otp=otp, request=request)  # raises OtpRequired / InvalidCredentials

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None, last_login=timezone.now())
        security_event_record(action="login_success", status=EventStatus.SUCCESS, user=user, request=request)
    return user


def login(*, request, email: str, password: str, otp: str | None = None) -> IssuedTokens:
    """API login: checks credentials, then opens a session."""
    user = password_login(request=request, email=email, password=password, otp=otp)
    return session_create(user=user, request=request)


# ---------------------------------------------------------------------------------------
# Key rotation


def totp_secrets_rewrap(*, batch_size: int = 500, dry_run: bool = False, actor=None) -> int:
    """Re-wrap every TOTP secret's data key under the current master key (the sealed
    secret itself is untouched). Batched, each batch its own audited transaction, so an
    interrupted run resumes where it stopped: rows already under the current key are
    skipped. Returns how many secrets were (or, with dry_run, would be) re-wrapped."""
    from core import crypto

    current = crypto.get_kms().current_key_id()
    prefix = f"{crypto.VERSION}:{current}:"
    done = 0
    last_id = None
    while True:
        with transaction.atomic():
            qs = User.objects.exclude(totp_secret="").exclude(totp_secret__startswith=prefix).order_by("pk")
            if last_id is not None:
                qs = qs.filter(pk__gt=last_id)
            batch = list(qs.select_for_update(of=("self",)).only("pk", "totp_secret")[:batch_size])
            if not batch:
                return done
            last_id = batch[-1].pk
            for user in batch:
                user.totp_secret = crypto.rewrap_box(user.totp_secret, context=totp_context(user.pk))
            if not dry_run:
                User.objects.bulk_update(batch, ["totp_secret"])
                audit_record(
                    entity="user", action="totp_rewrap", actor=actor, payload={"count": len(batch), "kek_id": current}
                )
            done += len(batch)
