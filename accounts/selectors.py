"""Reads of the accounts app, with visibility applied: a list costs a constant number of
queries whatever its length, and another user's row is simply not there (a 404)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Invitation, Role, SecurityEvent, Session, User
from core.db.counts import DEFAULT_CAP, CappedCount, capped_counts


def _is_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role == Role.ADMIN)


def user_list(*, actor) -> QuerySet[User]:
    """Every user, for administrators; nobody else lists users."""
    if not _is_admin(actor):
        return User.objects.none()
    return User.objects.all()


def session_list(*, user, include_revoked: bool = False) -> QuerySet[Session]:
    """The caller's own sessions, newest first; live ones unless asked otherwise."""
    qs = Session.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())
    return qs.order_by("-created_at")


def invitation_list(*, actor) -> QuerySet[Invitation]:
    if not _is_admin(actor):
        return Invitation.objects.none()
    return Invitation.objects.select_related("created_by").order_by("-created_at")


def security_event_list(*, actor) -> QuerySet[SecurityEvent]:
    """All events for administrators; one's own for everyone else."""
    qs = SecurityEvent.objects.select_related("user")
    if _is_admin(actor):
        return qs
    if not (actor and actor.is_authenticated):
        return qs.none()
    return qs.filter(user=actor)


def console_figures(*, now=None, cap: int = DEFAULT_CAP) -> dict[str, CappedCount]:
    """The operations dashboard's account figures: active, locked-now and unverified
    users, and live login sessions. One statement; each count stops at `cap`
    (core.db.counts), so it costs the same however many users and sessions there are."""
    now = now or timezone.now()
    return capped_counts(
        {
            "active": User.objects.filter(is_active=True),
            "locked": User.objects.locked(now),
            "unverified": User.objects.filter(verified=False),
            "sessions": Session.objects.active(now),
        },
        cap=cap,
    )
