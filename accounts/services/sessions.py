"""Login sessions: creation, refresh-token rotation with reuse detection, revocation
and logout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import EventStatus, RevokeReason, SecurityAction, Session, User
from accounts.services.events import client_meta, security_event_record
from accounts.types import AnyRequest
from audits.services import audit_record
from core.exceptions import NotAuthenticated, ValidationFailed


@dataclass(frozen=True)
class IssuedTokens:
    session: Session
    access: str
    access_expires_at: datetime
    refresh: str


@transaction.atomic
def session_create(*, user: User, request: AnyRequest | None = None, actor: User | None = None) -> IssuedTokens:
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


def session_refresh(*, refresh: str, request: AnyRequest | None = None) -> IssuedTokens:
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
def session_revoke(*, session: Session, reason: str, actor: User | None, request: AnyRequest | None = None) -> bool:
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
    *,
    user: User,
    reason: str,
    actor: User | None,
    request: AnyRequest | None = None,
    keep: Session | None = None,
    record: bool = True,
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


def logout(
    *, user: User, refresh: str | None = None, current_session: Session | None = None, request: AnyRequest | None = None
) -> None:
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


def logout_with_refresh(*, refresh: str, request: AnyRequest | None = None) -> None:
    """End the session a refresh token belongs to, for a client whose access token has
    already expired: holding the refresh token is proof enough. Idempotent."""
    session = Session.objects.select_related("user").filter(refresh_token_hash=tokens.hash_secret(refresh)).first()
    if session is None:
        raise ValidationFailed.field("refresh", "This refresh token is not valid.", code="invalid_token")
    session_revoke(session=session, reason=RevokeReason.LOGOUT, actor=session.user, request=request)
