"""Password login and its lockout: failed attempts counted per user with a conditional
UPDATE, the account locked after too many, constant time for unknown e-mails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import tokens
from accounts import totp as totp_codes
from accounts.models import EventStatus, SecurityAction, User
from accounts.services.events import failure_event_record, security_event_record
from accounts.services.sessions import IssuedTokens, session_create
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import AccountLocked, EmailUnverified, InvalidCredentials, OtpRequired

# A real hash (the preferred hasher) of a random password: checking unknown e-mails
# against it costs the same time as checking a real user (no account enumeration).
_DUMMY_HASH: dict[str, str] = {}


def _burn_hash_time(password: str) -> None:
    algorithm = settings.PASSWORD_HASHERS[0]
    if algorithm not in _DUMMY_HASH:
        _DUMMY_HASH[algorithm] = make_password(tokens.new_secret())
    check_password(password, _DUMMY_HASH[algorithm])


@dataclass(frozen=True)
class Attempt:
    reserved: bool
    failures: int  # failed_login_attempts including this attempt (when reserved)
    locked_until: datetime | None  # set when this attempt locked the account, or the lock it met

    @property
    def locks(self) -> bool:
        """This attempt is the one that reached LOGIN_MAX_FAILURES."""
        return self.reserved and self.locked_until is not None


def attempt_reserve(user_id: UUID) -> Attempt:
    """Count this attempt as a failure *before* the password is checked, in one
    conditional UPDATE (autocommitted, so concurrent requests see it at once).

    Attempts are refused only while a lock holds; the attempt that brings the count to
    LOGIN_MAX_FAILURES sets the lock itself. So of a burst of parallel guesses, at most
    LOGIN_MAX_FAILURES get a password check (a read-then-write counter lets the whole
    burst through, as django-axes does). A successful check clears the count and the
    lock; an expired lock starts a fresh count.
    """
    limit = settings.LOGIN_MAX_FAILURES
    # Every SET expression reads the target row's own columns: when concurrent attempts
    # queue on the row lock, PostgreSQL re-reads the row each waiter updates, so no
    # increment is lost. (A CTE or subquery computing the new count would be evaluated
    # once, on the snapshot, and let a burst through: the race test caught exactly that.)
    fresh = "locked_until IS NOT NULL AND locked_until <= now()"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE accounts.users SET
                failed_login_attempts = CASE WHEN {fresh} THEN 1 ELSE failed_login_attempts + 1 END,
                locked_until = CASE WHEN (CASE WHEN {fresh} THEN 1 ELSE failed_login_attempts + 1 END) >= %s
                                    THEN now() + make_interval(secs => %s) END
            WHERE id = %s AND (locked_until IS NULL OR locked_until <= now())
            RETURNING failed_login_attempts, locked_until
            """,
            [limit, settings.LOGIN_LOCKOUT_SECONDS, user_id],
        )
        row = cursor.fetchone()
        if row is not None:
            return Attempt(reserved=True, failures=row[0], locked_until=row[1])
        cursor.execute("SELECT failed_login_attempts, locked_until FROM accounts.users WHERE id = %s", [user_id])
        row = cursor.fetchone()
    return Attempt(reserved=False, failures=row[0] if row else 0, locked_until=row[1] if row else None)


def attempt_release(user_id: UUID) -> None:
    """Give back a reservation that turned out not to be a failure (a correct password
    that still needs its one-time code). Never lifts a lock."""
    User.objects.filter(pk=user_id, locked_until__isnull=True, failed_login_attempts__gt=0).update(
        failed_login_attempts=F("failed_login_attempts") - 1
    )


def _retry_after(locked_until: datetime | None) -> int:
    if locked_until is None:
        return settings.LOGIN_LOCKOUT_SECONDS
    return max(1, int((locked_until - timezone.now()).total_seconds()) + 1)


def _clear_failures(user: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None)


def attempt_refused(
    *, user: User, attempt: Attempt, request: AnyRequest | None, action: str, reason: str, **details: Any
) -> None:
    """Record a failed attempt (and the lockout it caused) in their own transaction."""
    with transaction.atomic():
        security_event_record(
            action=action,
            status=EventStatus.FAILURE,
            user=user,
            request=request,
            details={"reason": reason, "failures": attempt.failures, **details},
        )
        # `locks` implies locked_until is set; the second test says so to the type checker.
        if attempt.locks and attempt.locked_until is not None:
            security_event_record(
                action=SecurityAction.LOCKOUT,
                status=EventStatus.FAILURE,
                user=user,
                request=request,
                details={"until": attempt.locked_until.isoformat(), "failures": attempt.failures},
            )


def locked_out_error(*, user: User, attempt: Attempt, request: AnyRequest | None) -> AccountLocked:
    failure_event_record(
        action=SecurityAction.LOGIN_LOCKED, user=user, request=request, details={"reason": "account_locked"}
    )
    return AccountLocked(retry_after=_retry_after(attempt.locked_until))


def _verify_password(user: User, password: str) -> bool:
    """Check the password; a hash from an older hasher or older parameters (legacy
    bcrypt) is replaced by the preferred one (Argon2id) on success, audited."""

    def upgrade(raw: str) -> None:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(password=make_password(raw))
            audit_record(entity="user", action="password_rehash", actor=user, payload={"id": str(user.pk)})

    return check_password(password, user.password, upgrade)


def password_login(
    *, request: AnyRequest | None, email: str, password: str, otp: str | None = None, require_staff: bool = False
) -> User:
    """Check e-mail + password (+ TOTP when enrolled) under the lockout rules.

    Every outcome is a security event and an audit entry, committed even when the login
    fails (each is its own small transaction). A wrong one-time code counts as a failed
    attempt; a missing one does not (the client asks for it and retries). Raises
    InvalidCredentials (401), AccountLocked (423), EmailUnverified (403), OtpRequired (401).
    """
    email_norm = (email or "").strip().lower() if isinstance(email, str) else ""
    user = User.objects.filter(email=email_norm).first()
    if user is None:
        _burn_hash_time(password or "")
        failure_event_record(
            action=SecurityAction.LOGIN_FAILURE,
            request=request,
            resource=email_norm[:200],
            details={"reason": "unknown_email"},
        )
        raise InvalidCredentials()

    attempt = attempt_reserve(user.pk)
    if not attempt.reserved:
        raise locked_out_error(user=user, attempt=attempt, request=request)

    if not _verify_password(user, password or ""):
        attempt_refused(
            user=user, attempt=attempt, request=request, action=SecurityAction.LOGIN_FAILURE, reason="bad_password"
        )
        raise InvalidCredentials()

    if not user.is_active or (require_staff and not user.is_staff):
        _clear_failures(user)
        failure_event_record(
            action=SecurityAction.LOGIN_FAILURE,
            user=user,
            request=request,
            details={"reason": "inactive" if not user.is_active else "not_staff"},
        )
        raise InvalidCredentials()

    if not user.verified:
        _clear_failures(user)
        failure_event_record(
            action=SecurityAction.LOGIN_FAILURE, user=user, request=request, details={"reason": "email_unverified"}
        )
        raise EmailUnverified()

    if user.totp_enabled:
        if not otp:
            attempt_release(user.pk)
            raise OtpRequired()
        if not totp_codes.verify_and_consume(user=user, code=otp):
            attempt_refused(
                user=user, attempt=attempt, request=request, action=SecurityAction.TOTP_FAILURE, reason="bad_otp"
            )
            raise InvalidCredentials(
                "The one-time code is not valid or was already used.", details={"otp": ["invalid or already used"]}
            )

    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None, last_login=timezone.now())
        security_event_record(
            action=SecurityAction.LOGIN_SUCCESS, status=EventStatus.SUCCESS, user=user, request=request
        )
    user.refresh_from_db()
    return user


def login(*, request: AnyRequest | None, email: str, password: str, otp: str | None = None) -> IssuedTokens:
    """API login: checks credentials, then opens a session."""
    user = password_login(request=request, email=email, password=password, otp=otp)
    return session_create(user=user, request=request)
