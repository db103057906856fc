"""Reads of the accounts app, with visibility applied: a list costs a constant number of
queries whatever its length, and another user's row is simply not there (a 404)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Invitation, Role, SecurityAction, SecurityEvent, Session, User
from accounts.types import Reader
from core.db.counts import DEFAULT_CAP, CappedCount, capped_counts


def _is_admin(user: Reader) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role == Role.ADMIN)


def user_list(*, actor: Reader) -> QuerySet[User]:
    """Every user, for administrators; nobody else lists users."""
    if not _is_admin(actor):
        return User.objects.none()
    return User.objects.all()


def session_list(*, user: User, include_revoked: bool = False) -> QuerySet[Session]:
    """The caller's own sessions, newest first; live ones unless asked otherwise."""
    qs = Session.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    return qs.order_by("-created_at")


def invitation_list(*, actor: Reader) -> QuerySet[Invitation]:
    if not _is_admin(actor):
        return Invitation.objects.none()
    return Invitation.objects.select_related("created_by").order_by("-created_at")


def security_event_list(*, actor: Reader) -> QuerySet[SecurityEvent]:
    """All events for administrators; one's own for everyone else."""
    qs = SecurityEvent.objects.select_related("user")
    if _is_admin(actor):
        return qs
    if not (actor and actor.is_authenticated):
        return qs.none()
    return qs.filter(user=actor)


def console_figures(*, now: datetime | None = None, cap: int = DEFAULT_CAP) -> dict[str, CappedCount]:
    """The operations dashboard's account figures: active, locked-now and unverified
    users, and live login sessions. One statement; each count stops at `cap`
    (core.db.counts), so it costs the same however many users and sessions there are.

    "Locked now" is read through the lockouts of the last LOGIN_LOCKOUT_SECONDS (security
    events, indexed by time): a login lockout is the only thing that sets locked_until,
    always to that far ahead, so this finds every user locked now without scanning the
    users table (locked_until has no index: lockouts are rare)."""
    now = now or timezone.now()
    recent_lockouts = SecurityEvent.objects.filter(
        action=SecurityAction.LOCKOUT,
        created_at__gte=now - timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS + 60),
        user__isnull=False,
    ).values("user_id")
    return capped_counts(
        {
            "active": User.objects.filter(is_active=True),
            "locked": User.objects.filter(pk__in=recent_lockouts, locked_until__gt=now),
            "unverified": User.objects.filter(verified=False),
            "sessions": Session.objects.active(now),
        },
        cap=cap,
    )
