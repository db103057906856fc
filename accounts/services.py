"""Accounts services: every write to users, sessions, invitations, resets and security
events goes through here, atomic and audited in the same transaction.

Failed attempts (wrong password, wrong code, reused refresh token) must leave a trace
even though the request fails: those paths commit their security event in a small
transaction of their own and raise afterwards, outside it.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import emails, tokens
from accounts import totp as totp_codes
from accounts.models import (
    EventStatus,
    Invitation,
    PasswordReset,
    RevokeReason,
    Role,
    SecurityAction,
    SecurityEvent,
    Session,
    User,
    totp_context,
)
from audits.services import audit_record
from core import canonical
from core.exceptions import (
    AccountLocked,
    Conflict,
    EmailUnverified,
    InvalidCredentials,
    NotAuthenticated,
    OtpRequired,
    PermissionDenied,
    ValidationFailed,
)
from core.ids import uuid7

SITE_NAME = "Tristate"

# ---------------------------------------------------------------------------------------
# Request metadata and security events


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address. Behind a load balancer (TRUST_X_FORWARDED_FOR) it is the
    right-most X-Forwarded-For entry — the one our balancer appended; entries left of it
    come from the client and can be forged."""
    meta = getattr(request, "META", None) or {}
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            ip = _valid_ip(forwarded[-1])
            if ip:
                return ip
    return _valid_ip(meta.get("REMOTE_ADDR"))


def client_meta(request) -> dict:
    """IP address and user agent of a request (or an empty dict outside a request)."""
    if request is None:
        return {}
    meta = getattr(request, "META", {})
    return {"ip": client_ip(request), "user_agent": (meta.get("HTTP_USER_AGENT") or "")[:500]}


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
    """A security event in accounts.audit_logs and the same event in the audit chain.
    `actor` (default: `user`) is who did it, `user` whose account it concerns."""
    if action not in SecurityAction.values:
        raise ValueError(f"unknown security action {action!r} (add it to accounts.models.SecurityAction)")
    meta = client_meta(request)
    event = SecurityEvent.objects.create(
        user=user,
        action=action,
        resource=resource[:200],
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
            "resource": resource[:200],
            "ip": meta.get("ip"),
            **(details or {}),
        },
    )
    return event


def _record_failure_event(**kwargs) -> None:
    """A security event committed on its own, for paths that raise right after."""
    with transaction.atomic():
        security_event_record(status=EventStatus.FAILURE, **kwargs)


# ---------------------------------------------------------------------------------------
# Users


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    try:
        validate_email(email)
    except DjangoValidationError:
        raise ValidationFailed.field("email", "Enter a valid e-mail address.") from None
    return email


def _check_password_rules(password: str, user: User | None = None, field: str = "password") -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed("The password is too weak.", details={field: exc.messages}) from None


def _hash_password(password: str) -> str:
    return make_password(password)


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
    password_hash: str | None = None,
    **extra,
) -> User:
    """Create a user. role=admin implies is_staff and is_superuser (the admin role is
    the whole console). Passwords are validated unless `validate=False`; a caller that
    already holds a hash (legacy import: `password_hash`, see accounts.hashers) passes
    that instead; with neither, the account has no usable password until it is reset."""
    email = normalize_email(email)
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{role}'.")
    if len(name or "") > 200:
        raise ValidationFailed.field("name", "At most 200 characters.")
    if User.objects.filter(email=email).exists():
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]})
    is_admin_role = role == Role.ADMIN
    user = User(
        email=email,
        name=name or "",
        role=role,
        verified=verified,
        is_staff=is_staff or is_admin_role,
        is_superuser=is_superuser or is_admin_role,
        **extra,
    )
    if password_hash:
        try:
            identify_hasher(password_hash)
        except ValueError:
            raise ValidationFailed.field("password_hash", "Not a password hash this system can verify.") from None
        user.password = password_hash
    elif password:
        if validate:
            _check_password_rules(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError:  # a concurrent registration of the same address won
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]}) from None
    audit_record(
        entity="user",
        action="create",
        actor=actor,
        payload={
            "id": str(user.pk),
            "email": email,
            "role": role,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
            "verified": verified,
        },
    )
    return user


ADMIN_FIELDS = ("role", "is_active", "verified", "is_staff")
PROFILE_FIELDS = ("name", "settings")
SETTINGS_MAX_BYTES = 32 * 1024


def _lock_admins_and_count_others(user: User) -> int:
    """Active admins other than `user`, counted under row locks (taken in pk order) so
    two admins demoting each other at once cannot both succeed."""
    admins = list(
        User.objects.select_for_update()
        .filter(role=Role.ADMIN, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return sum(1 for pk in admins if pk != user.pk)


@transaction.atomic
def user_update(*, user: User, actor, request=None, **changes) -> User:
    """Change a user's profile (name, settings: the user or an admin) or account
    (role, is_active, verified, is_staff: admins only).

    role=admin implies is_staff and is_superuser; leaving the admin role drops both
    unless is_staff is set in the same call. The last active admin cannot be demoted or
    deactivated (409). Deactivating revokes every session. Role changes and
    (de)activation are security events; everything is audited with before/after values.
    """
    unknown = set(changes) - set(ADMIN_FIELDS) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if set(changes) & set(ADMIN_FIELDS) and actor is not None and getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied("Only administrators may change role, activity, verification or console access.")
    user = User.objects.select_for_update().get(pk=user.pk)

    if "name" in changes:
        name = changes["name"]
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationFailed.field("name", "A text of at most 200 characters.")
    if "settings" in changes:
        value = changes["settings"]
        if not isinstance(value, dict):
            raise ValidationFailed.field("settings", "Settings are a JSON object.")
        if len(json.dumps(value)) > SETTINGS_MAX_BYTES:
            raise ValidationFailed.field("settings", f"Settings are limited to {SETTINGS_MAX_BYTES} bytes of JSON.")
    new_role = changes.get("role", user.role)
    if new_role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{new_role}'.")
    if new_role == Role.ADMIN:
        if changes.get("is_staff") is False:
            raise ValidationFailed.field("is_staff", "An administrator always has admin-console access.")
        changes["is_staff"] = True
        is_superuser = True
    elif user.role == Role.ADMIN:
        changes.setdefault("is_staff", False)
        is_superuser = False
    else:
        is_superuser = user.is_superuser

    stays_admin = new_role == Role.ADMIN and changes.get("is_active", user.is_active)
    if user.role == Role.ADMIN and user.is_active and not stays_admin and _lock_admins_and_count_others(user) == 0:
        raise Conflict("This is the last active administrator: promote another one first.")

    before = {field: getattr(user, field) for field in changes}
    for field, value in changes.items():
        setattr(user, field, value)
    user.is_superuser = is_superuser
    changed = [field for field in changes if before[field] != getattr(user, field)]
    if not changed:
        return user
    user.save(update_fields=[*changes, "is_superuser", "updated_at"])
    scalar = {f: {"from": before[f], "to": getattr(user, f)} for f in changed if f != "settings"}
    audit_record(
        entity="user",
        action="update",
        actor=actor,
        payload={"id": str(user.pk), "fields": sorted(changed), "changes": scalar},
    )
    if "role" in changed:
        security_event_record(
            action=SecurityAction.ROLE_CHANGE,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
            details={"from": before["role"], "to": user.role},
        )
    if "is_active" in changed:
        if not user.is_active:
            sessions_revoke_all(user=user, reason=RevokeReason.DEACTIVATED, actor=actor, request=request)
        security_event_record(
            action=SecurityAction.USER_ACTIVATED if user.is_active else SecurityAction.USER_DEACTIVATED,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
        )
    other = [f for f in changed if f in ("verified", "is_staff")]
    if other and actor is not None and getattr(actor, "pk", None) != user.pk:
        security_event_record(
            action=SecurityAction.USER_UPDATE,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
            details={"changes": {f: scalar[f] for f in other}},
        )
    return user


@transaction.atomic
def user_set_groups(*, user: User, groups, actor, request=None) -> User:
    """Set a staff member's console groups (Django groups: what the admin console lets
    them see and do). Administrators only: group membership hands out permissions. The
    change is audited with the names added and removed, and is a security event."""
    from django.contrib.auth.models import Group

    if actor is None or getattr(actor, "role", None) != Role.ADMIN:
        raise PermissionDenied("Only administrators may change a user's groups.")
    user = User.objects.select_for_update().get(pk=user.pk)
    wanted = {group.pk: group.name for group in Group.objects.filter(pk__in=[g.pk for g in groups])}
    current = dict(user.groups.values_list("pk", "name"))
    added = sorted(name for pk, name in wanted.items() if pk not in current)
    removed = sorted(name for pk, name in current.items() if pk not in wanted)
    if not added and not removed:
        return user
    user.groups.set(list(wanted))
    audit_record(
        entity="user",
        action="groups",
        actor=actor,
        payload={"id": str(user.pk), "added": added, "removed": removed, "groups": sorted(wanted.values())},
    )
    security_event_record(
        action=SecurityAction.USER_UPDATE,
        status=EventStatus.SUCCESS,
        user=user,
        actor=actor,
        request=request,
        details={"groups": {"added": added, "removed": removed}},
    )
    return user


@transaction.atomic
def user_unlock(*, user: User, actor, request=None) -> User:
    """Lift a lockout and forget the failed attempts."""
    updated = User.objects.filter(pk=user.pk).update(failed_login_attempts=0, locked_until=None)
    if not updated:
        raise ValidationFailed("No such user.")
    audit_record(entity="user", action="unlock", actor=actor, payload={"id": str(user.pk)})
    security_event_record(
        action=SecurityAction.UNLOCK, status=EventStatus.SUCCESS, user=user, actor=actor, request=request
    )
    user.refresh_from_db(fields=["failed_login_attempts", "locked_until"])
    return user


@transaction.atomic
def user_create_by_admin(
    *,
    email: str,
    actor,
    name: str = "",
    role: str = Role.USER,
    password: str | None = None,
    is_staff: bool = False,
    request=None,
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


# ---------------------------------------------------------------------------------------
# Registration, invitations, e-mail verification

INVITATION_MAX_USES = 10_000
INVITATION_DEFAULT_TTL = timedelta(days=7)
INVITATION_MAX_TTL = timedelta(days=365)


@transaction.atomic
def invitation_create(
    *,
    actor,
    role: str = Role.USER,
    max_uses: int = 1,
    expires_at: datetime | None = None,
    request=None,
) -> tuple[Invitation, str]:
    """A new invitation and its code. The code is returned here only: the database
    keeps its SHA-256."""
    now = timezone.now()
    if role not in Role.values:
        raise ValidationFailed.field("role", f"Unknown role '{role}'.")
    if not isinstance(max_uses, int) or not 1 <= max_uses <= INVITATION_MAX_USES:
        raise ValidationFailed.field("max_uses", f"Between 1 and {INVITATION_MAX_USES}.")
    expires_at = expires_at or now + INVITATION_DEFAULT_TTL
    if expires_at <= now:
        raise ValidationFailed.field("expires_at", "Must be in the future.")
    if expires_at > now + INVITATION_MAX_TTL:
        raise ValidationFailed.field("expires_at", "At most one year ahead.")
    code = tokens.new_secret()
    invitation = Invitation.objects.create(
        code_hash=tokens.hash_secret(code),
        role=role,
        max_uses=max_uses,
        expires_at=expires_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit_record(
        entity="invitation",
        action="create",
        actor=actor,
        payload={"id": str(invitation.pk), "role": role, "max_uses": max_uses, "expires_at": expires_at},
    )
    return invitation, code


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor, request=None) -> Invitation:
    """Revoke an invitation (idempotent). The row stays, for the record."""
    updated = Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    invitation.refresh_from_db()
    if updated:
        audit_record(
            entity="invitation",
            action="revoke",
            actor=actor,
            payload={"id": str(invitation.pk), "uses": invitation.uses, "max_uses": invitation.max_uses},
        )
    return invitation


def _invitation_consume(code: str) -> tuple[str, str]:
    """Take one use of an invitation: (invitation id, role). One conditional UPDATE, so
    `uses` never passes `max_uses` however many registrations race (the row lock
    serializes them and each re-checks the condition). Raises 400 with a distinct code."""
    code_hash = tokens.hash_secret(code)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts.invitations SET uses = uses + 1 "
            "WHERE code_hash = %s AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses "
            "RETURNING id, role",
            [code_hash],
        )
        row = cursor.fetchone()
    if row:
        return str(row[0]), row[1]
    invitation = Invitation.objects.filter(code_hash=code_hash).first()
    if invitation is None:
        raise ValidationFailed.field("invitation_code", "This invitation code is not valid.", code="invitation_invalid")
    status = invitation.status()
    messages = {
        "revoked": ("This invitation was revoked.", "invitation_revoked"),
        "expired": ("This invitation has expired.", "invitation_expired"),
        "used_up": ("This invitation has been used up.", "invitation_used_up"),
    }
    message, code_name = messages.get(status, ("This invitation code is not valid.", "invitation_invalid"))
    raise ValidationFailed.field("invitation_code", message, code=code_name)


@transaction.atomic
def register(*, email: str, password: str, name: str = "", invitation_code: str | None = None, request=None) -> User:
    """Self-registration: with an invitation code (the user gets its role), or without
    one when OPEN_REGISTRATION is on (role user). The new account is unverified; the
    verification e-mail leaves after commit. All or nothing: a failure (duplicate
    e-mail, weak password) gives the invitation use back."""
    email = normalize_email(email)
    if not invitation_code and not settings.OPEN_REGISTRATION:
        raise ValidationFailed.field(
            "invitation_code", "Registration needs an invitation code.", code="invitation_required"
        )
    _check_password_rules(password, User(email=email, name=name or ""))
    if User.objects.filter(email=email).exists():
        raise Conflict("A user with this e-mail already exists.", details={"email": ["already registered"]})
    # Hash before taking the invitation's row lock: concurrent registrations then hold
    # it only for a few inserts, not for a password hash each.
    password_hash = _hash_password(password)
    invitation_id, role = _invitation_consume(invitation_code) if invitation_code else (None, Role.USER)
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


def email_verification_resend(*, email: str, request=None) -> None:
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
def email_verify(*, token: str, request=None) -> User:
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


def session_refresh(*, refresh: str, request=None) -> IssuedTokens:
    """Rotate a refresh token: its session is revoked and a new one issued, atomically.

    The revocation is one conditional UPDATE, so of two requests refreshing the same
    token at once exactly one wins. A token whose session was already rotated is a
    stolen token being replayed (or the thief's copy racing the owner's): every session
    of the user is revoked and a token_reuse security event recorded.
    """
    token_hash = tokens.hash_secret(refresh or "")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE accounts.sessions AS s SET revoked_at = now(), revoked_reason = %s
                FROM accounts.users AS u
                WHERE s.refresh_token_hash = %s AND s.revoked_at IS NULL AND s.expires_at > now()
                  AND u.id = s.user_id AND u.is_active
                RETURNING s.id, s.user_id
                """,
                [RevokeReason.ROTATED, token_hash],
            )
            row = cursor.fetchone()
        if row:
            old_id, user_id = row
            user = User.objects.get(pk=user_id)
            issued = session_create(user=user, request=request)
            Session.objects.filter(pk=old_id).update(replaced_by=issued.session)
            audit_record(
                entity="session",
                action="rotate",
                actor=user,
                payload={"id": str(old_id), "replaced_by": str(issued.session.pk), "user": str(user_id)},
            )
            return issued

    session = Session.objects.select_related("user").filter(refresh_token_hash=token_hash).first()
    if session is not None and session.revoked_reason == RevokeReason.ROTATED:
        with transaction.atomic():
            revoked = sessions_revoke_all(
                user=session.user, reason=RevokeReason.TOKEN_REUSE, actor=None, request=request, record=False
            )
            security_event_record(
                action=SecurityAction.TOKEN_REUSE,
                status=EventStatus.FAILURE,
                user=session.user,
                actor=None,
                request=request,
                details={"session": str(session.pk), "sessions_revoked": revoked},
            )
    raise NotAuthenticated("The refresh token is invalid, expired or revoked.", code="invalid_token")


@transaction.atomic
def session_revoke(*, session: Session, reason: str, actor, request=None) -> bool:
    """Revoke one session (idempotent): its refresh token and access tokens stop at once."""
    updated = Session.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )
    if updated:
        audit_record(
            entity="session",
            action="revoke",
            actor=actor,
            payload={"id": str(session.pk), "user": str(session.user_id), "reason": reason},
        )
        security_event_record(
            action=SecurityAction.LOGOUT if reason == RevokeReason.LOGOUT else SecurityAction.SESSION_REVOKED,
            status=EventStatus.SUCCESS,
            user=session.user,
            actor=actor,
            request=request,
            resource=f"session:{session.pk}",
            details={"reason": reason},
        )
    return bool(updated)


@transaction.atomic
def sessions_revoke_all(
    *, user: User, reason: str, actor, request=None, keep: Session | None = None, record: bool = True
) -> int:
    """Revoke every live session of a user (but `keep`, the caller's own); returns how many."""
    qs = Session.objects.filter(user=user, revoked_at__isnull=True)
    if keep is not None:
        qs = qs.exclude(pk=keep.pk)
    count = qs.update(revoked_at=timezone.now(), revoked_reason=reason)
    audit_record(
        entity="session",
        action="revoke_all",
        actor=actor,
        payload={"user": str(user.pk), "count": count, "reason": reason, "kept": str(keep.pk) if keep else None},
    )
    if record and count:
        security_event_record(
            action=SecurityAction.SESSIONS_REVOKED,
            status=EventStatus.SUCCESS,
            user=user,
            actor=actor,
            request=request,
            details={"count": count, "reason": reason},
        )
    return count


def logout(*, user: User, refresh: str | None = None, current_session: Session | None = None, request=None) -> None:
    """End one of the caller's sessions: the one `refresh` belongs to, or the one the
    request is authenticated by. Idempotent."""
    if refresh:
        session = Session.objects.filter(user=user, refresh_token_hash=tokens.hash_secret(refresh)).first()
        if session is None:
            raise ValidationFailed.field("refresh", "This refresh token is not one of yours.", code="invalid_token")
    elif isinstance(current_session, Session):
        session = current_session
    else:
        raise ValidationFailed.field("refresh", "Give the refresh token of the session to end.")
    session_revoke(session=session, reason=RevokeReason.LOGOUT, actor=user, request=request)


def logout_with_refresh(*, refresh: str, request=None) -> None:
    """End the session a refresh token belongs to, for a client whose access token has
    already expired: holding the refresh token is proof enough. Idempotent."""
    session = Session.objects.select_related("user").filter(refresh_token_hash=tokens.hash_secret(refresh)).first()
    if session is None:
        raise ValidationFailed.field("refresh", "This refresh token is not valid.", code="invalid_token")
    session_revoke(session=session, reason=RevokeReason.LOGOUT, actor=session.user, request=request)


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


def _reserve_attempt(user_id) -> Attempt:
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


def _release_attempt(user_id) -> None:
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


def _refused_attempt(*, user: User, attempt: Attempt, request, action: str, reason: str, **details) -> None:
    """Record a failed attempt (and the lockout it caused) in their own transaction."""
    with transaction.atomic():
        security_event_record(
            action=action,
            status=EventStatus.FAILURE,
            user=user,
            request=request,
            details={"reason": reason, "failures": attempt.failures, **details},
        )
        if attempt.locks:
            security_event_record(
                action=SecurityAction.LOCKOUT,
                status=EventStatus.FAILURE,
                user=user,
                request=request,
                details={"until": attempt.locked_until.isoformat(), "failures": attempt.failures},
            )


def _locked_out(*, user: User, attempt: Attempt, request) -> AccountLocked:
    _record_failure_event(
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


def password_login(*, request, email: str, password: str, otp: str | None = None, require_staff: bool = False) -> User:
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
        _record_failure_event(
            action=SecurityAction.LOGIN_FAILURE,
            request=request,
            resource=email_norm[:200],
            details={"reason": "unknown_email"},
        )
        raise InvalidCredentials()

    attempt = _reserve_attempt(user.pk)
    if not attempt.reserved:
        raise _locked_out(user=user, attempt=attempt, request=request)

    if not _verify_password(user, password or ""):
        _refused_attempt(
            user=user, attempt=attempt, request=request, action=SecurityAction.LOGIN_FAILURE, reason="bad_password"
        )
        raise InvalidCredentials()

    if not user.is_active or (require_staff and not user.is_staff):
        _clear_failures(user)
        _record_failure_event(
            action=SecurityAction.LOGIN_FAILURE,
            user=user,
            request=request,
            details={"reason": "inactive" if not user.is_active else "not_staff"},
        )
        raise InvalidCredentials()

    if not user.verified:
        _clear_failures(user)
        _record_failure_event(
            action=SecurityAction.LOGIN_FAILURE, user=user, request=request, details={"reason": "email_unverified"}
        )
        raise EmailUnverified()

    if user.totp_enabled:
        if not otp:
            _release_attempt(user.pk)
            raise OtpRequired()
        if not totp_codes.verify_and_consume(user=user, code=otp):
            _refused_attempt(
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


def login(*, request, email: str, password: str, otp: str | None = None) -> IssuedTokens:
    """API login: checks credentials, then opens a session."""
    user = password_login(request=request, email=email, password=password, otp=otp)
    return session_create(user=user, request=request)


# ---------------------------------------------------------------------------------------
# Passwords


def password_change(
    *, user: User, current_password: str, new_password: str, current_session: Session | None = None, request=None
) -> None:
    """Change one's own password: the current one is checked under the login lockout
    rules (a stolen access token cannot guess it), the new one must pass the password
    validators, and every other session is revoked."""
    attempt = _reserve_attempt(user.pk)
    if not attempt.reserved:
        raise _locked_out(user=user, attempt=attempt, request=request)
    if not check_password(current_password or "", user.password):
        _refused_attempt(
            user=user, attempt=attempt, request=request, action=SecurityAction.PASSWORD_CHANGE, reason="bad_password"
        )
        raise ValidationFailed.field("current_password", "The current password is not correct.")
    try:
        _check_password_rules(new_password, user, field="new_password")
    except ValidationFailed:
        _release_attempt(user.pk)
        raise
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            password=_hash_password(new_password), failed_login_attempts=0, locked_until=None, updated_at=timezone.now()
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


def _password_reset_issue(*, user: User, ttl: timedelta, actor) -> str:
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
def password_reset_request(*, email: str, request=None) -> None:
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
def password_reset_confirm(*, token: str, new_password: str, request=None) -> User:
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
    _check_password_rules(new_password, user, field="new_password")
    now = timezone.now()
    PasswordReset.objects.filter(pk=reset.pk).update(used=True, used_at=now)
    User.objects.filter(pk=user.pk).update(
        password=_hash_password(new_password), failed_login_attempts=0, locked_until=None, verified=True, updated_at=now
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


# ---------------------------------------------------------------------------------------
# Two-factor authentication


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str


@transaction.atomic
def totp_setup(*, user: User, request=None) -> TotpEnrolment:
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
def totp_confirm(*, user: User, code: str, request=None) -> User:
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


def totp_disable(*, user: User, code: str, request=None) -> User:
    """Switch two-factor authentication off; needs a valid code. Wrong codes count as
    failed login attempts (same lockout), so a stolen access token cannot guess its way
    to turning the second factor off."""
    user.refresh_from_db()
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is not on.", code="totp_not_enabled")
    attempt = _reserve_attempt(user.pk)
    if not attempt.reserved:
        raise _locked_out(user=user, attempt=attempt, request=request)
    if not totp_codes.verify_and_consume(user=user, code=code):
        _refused_attempt(
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


# ---------------------------------------------------------------------------------------
# Upkeep


# What accounts_purge_expired deletes, per kind: the table and what "can no longer be
# used" means there (`%(now)s` is the run's cut-off).
_PURGEABLE = {
    "sessions": ("sessions", "expires_at <= %(now)s"),
    "resets": ("password_resets", "(expires_at <= %(now)s OR used)"),
    "invitations": ("invitations", "expires_at <= %(now)s"),
}


def accounts_purge_expired(
    *, now: datetime | None = None, dry_run: bool = False, actor=None, batch_size: int = 5000
) -> dict[str, int]:
    """Delete what can no longer be used: sessions past their expiry, password resets
    that expired or were used, invitations past their expiry. At most `batch_size` rows
    of each kind per transaction, each batch recording one audit entry with its counts;
    rows a writer holds are skipped this run (SKIP LOCKED) and taken by the next. The
    audit log keeps the history. Returns counts per kind (sessions, resets, invitations)."""
    now = now or timezone.now()
    counts = dict.fromkeys(_PURGEABLE, 0)
    if dry_run:
        with connection.cursor() as cursor:
            for name, (table, condition) in _PURGEABLE.items():
                cursor.execute(f"SELECT count(*) FROM {table} WHERE {condition}", {"now": now})
                counts[name] = cursor.fetchone()[0]
        return counts
    batch, first = 0, True
    while True:
        done: dict[str, int] = {}
        cleared = 0
        with transaction.atomic(), connection.cursor() as cursor:
            if first:
                # Sessions refer to the ones they replaced (SET NULL): clear references to
                # every purgeable session once, in the first (audited) batch, rather than
                # scanning for them in each. Expired sessions cannot be rotated, so no new
                # reference appears while the purge runs.
                cursor.execute(
                    "UPDATE sessions SET replaced_by_id = NULL WHERE replaced_by_id IN "
                    "(SELECT id FROM sessions WHERE expires_at <= %(now)s)",
                    {"now": now},
                )
                cleared, first = cursor.rowcount, False
            for name, (table, condition) in _PURGEABLE.items():
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} "
                    "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)",
                    {"now": now, "limit": batch_size},
                )
                done[name] = cursor.rowcount
            if any(done.values()) or cleared:
                batch += 1
                payload = {**done, "before": now, "batch": batch}
                if cleared:
                    payload["replaced_by_cleared"] = cleared
                audit_record(entity="accounts", action="purge_expired", actor=actor, payload=payload)
        for name, n in done.items():
            counts[name] += n
        if all(n < batch_size for n in done.values()):
            return counts


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


# ---------------------------------------------------------------------------------------
# Bulk import (the legacy import): the rules of user_create / user_update, set-based


@dataclass(frozen=True)
class UserImport:
    """An account to import. `password_hash` is already in Django's stored form (a legacy
    bcrypt hash goes through accounts.hashers.legacy_bcrypt_to_django); None means the
    account has no usable password until it is reset."""

    email: str
    role: str = Role.USER
    name: str = ""
    is_staff: bool = False
    verified: bool = False
    password_hash: str | None = None
    created_at: datetime | None = None
    last_login: datetime | None = None


_ROLES = frozenset(Role.values)


def _user_import_error(row: UserImport) -> tuple[str | None, str | None]:
    """(normalized e-mail, error) with user_create's rules."""
    try:
        email = normalize_email(row.email)
    except ValidationFailed:
        return None, f"email: not a valid e-mail address ({str(row.email)[:254]!r})"
    if row.role not in _ROLES:
        return email, f"role: unknown role {row.role!r}"
    if not isinstance(row.name, str) or len(row.name) > 200:
        return email, "name: at most 200 characters"
    if "\x00" in row.name:
        return email, "name: NUL characters are not allowed"
    if row.password_hash:
        try:
            identify_hasher(row.password_hash)
        except ValueError:
            return email, "password_hash: not a password hash this system can verify"
    return email, None


@transaction.atomic
def users_import(*, users: list[UserImport], actor, context: dict | None = None) -> list:
    """Create many accounts at once (legacy import): user_create's rules for every row
    (e-mail normalized and validated, known role, role=admin implies is_staff and
    is_superuser, a hash this system can verify or an unusable password), one
    INSERT ... ON CONFLICT (email) DO NOTHING for the lot, one audit entry for the batch.

    Returns one core.bulk.RowResult per row, in order: created (new id), existed (the
    e-mail already had an account, left untouched; also a repeat within `users`), or
    refused with the reason."""
    from core import bulk

    results: list = [None] * len(users)
    first_of: dict[str, int] = {}
    rows: list[tuple[int, str, UserImport]] = []
    for index, row in enumerate(users):
        email, error = _user_import_error(row)
        if error:
            results[index] = bulk.refused(error)
        elif email in first_of:
            results[index] = ("same", first_of[email])
        else:
            first_of[email] = index
            rows.append((index, email, row))
    now = timezone.now()
    if rows:
        payload = []
        for _, email, row in rows:
            admin = row.role == Role.ADMIN
            payload.append(
                [
                    uuid7(),
                    email,
                    row.name,
                    row.role,
                    bool(row.is_staff) or admin,
                    admin,
                    bool(row.verified),
                    row.password_hash or make_password(None),
                    row.created_at or now,
                    row.last_login,
                ]
            )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO users (id, email, name, role, is_staff, is_superuser, verified, password, created_at,
                                   updated_at, last_login, totp_secret, totp_enabled, failed_login_attempts,
                                   settings, is_active)
                SELECT (r->>0)::uuid, r->>1, r->>2, r->>3, (r->>4)::bool, (r->>5)::bool, (r->>6)::bool, r->>7,
                       (r->>8)::timestamptz, %s, (r->>9)::timestamptz, '', false, 0, '{}'::jsonb, true
                FROM jsonb_array_elements(%s::jsonb) AS r
                ON CONFLICT (email) DO NOTHING
                RETURNING id, email
                """,
                [now, bulk.json_rows(payload)],
            )
            inserted = {email: user_id for user_id, email in cursor.fetchall()}
            missing = [email for _, email, _ in rows if email not in inserted]
            found = {}
            if missing:
                cursor.execute("SELECT email, id FROM users WHERE email = ANY(%s)", [missing])
                found = dict(cursor.fetchall())
        for index, email, _ in rows:
            if email in inserted:
                results[index] = bulk.created(inserted[email])
            else:
                results[index] = bulk.existing(found.get(email))
    for index, value in enumerate(results):
        if isinstance(value, tuple):
            results[index] = bulk.existing(results[value[1]].id)
    created_ids = [str(r.id) for r in results if r.ok and not r.existed]
    if created_ids:
        roles: dict[str, int] = {}
        for _, email, row in rows:
            if email in inserted:
                roles[row.role] = roles.get(row.role, 0) + 1
        audit_record(
            entity="user",
            action="import",
            actor=actor,
            payload={**(context or {}), "count": len(created_ids), "roles": roles, "ids": created_ids},
        )
    return results


@transaction.atomic
def user_settings_import(*, items: list[tuple], actor, context: dict | None = None) -> list:
    """Merge imported preferences into users' settings (legacy import): `items` are
    (user id, settings object). user_update's rules (a JSON object of at most
    SETTINGS_MAX_BYTES); keys the account already has keep their current value. One
    UPDATE for the lot, one audit entry. Returns one core.bulk.RowResult per item."""
    from core import bulk

    results: list = [None] * len(items)
    valid: list[tuple[int, object, str]] = []
    for index, (user_id, value) in enumerate(items):
        if not isinstance(value, dict):
            results[index] = bulk.refused("settings: must be a JSON object")
            continue
        try:
            text = canonical.dumps(value)
        except (TypeError, ValueError) as exc:
            results[index] = bulk.refused(f"settings: not storable JSON ({exc})")
            continue
        if len(text.encode()) > SETTINGS_MAX_BYTES:
            results[index] = bulk.refused(f"settings: more than {SETTINGS_MAX_BYTES} bytes of JSON")
            continue
        valid.append((index, user_id, text, value))
    if valid:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE users SET settings = (r->1) || users.settings, updated_at = %s
                FROM jsonb_array_elements(%s::jsonb) AS r WHERE users.id = (r->>0)::uuid
                RETURNING users.id::text
                """,
                [timezone.now(), bulk.json_rows([[v[1], v[3]] for v in valid])],
            )
            updated = {row[0] for row in cursor.fetchall()}
        for index, user_id, _, _ in valid:
            results[index] = bulk.created(user_id) if str(user_id) in updated else bulk.refused("no such user")
    done = [str(r.id) for r in results if r.ok]
    if done:
        audit_record(
            entity="user",
            action="settings_import",
            actor=actor,
            payload={**(context or {}), "count": len(done), "ids": done},
        )
    return results
