"""Analysis sessions: creation (with the user's quota checked), moves along the status
machine, cancellation; and the write checks and row locks the other production modules
share.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, InvalidTransition, NotFound, ValidationFailed
from production import rules
from production.models import SESSION_MOVES, AnalysisSession, SessionStatus
from projects.models import Project, Tag
from projects.selectors import as_uuid, check_can_write, project_for_write
from providers.models import Provider
from providers.services import quota_check

UNSET: Any = object()


def _json_sha(value: Any) -> str | None:
    return None if value is None else canonical.sha256_hex(value)


def check_writer(session: AnalysisSession, actor: User | None) -> None:
    """The session's own user or an admin; viewers are refused (403), other users get
    the 404 they would get reading it."""
    if actor is None:
        return
    check_can_write(actor)
    if not actor.is_admin_role and session.user_id != actor.pk:
        raise NotFound("Analysis session not found.")


def session_lock_for_write(session: AnalysisSession, actor: User | None) -> AnalysisSession:
    """Permission, project share lock (archived → 409), then the session row lock."""
    check_writer(session, actor)
    project_for_write(project_id=session.project_id, actor=None)
    return _lock_session(session.pk)


def _lock_session(session_id: uuid.UUID) -> AnalysisSession:
    try:
        return AnalysisSession.objects.select_for_update(no_key=True).get(pk=session_id)
    except AnalysisSession.DoesNotExist:
        raise NotFound("Analysis session not found.") from None


def not_before(now: datetime, earlier: datetime | None) -> datetime:
    # App servers' clocks may differ by a little: never stamp an end before its start.
    return now if earlier is None or now >= earlier else earlier


def _resolve_provider(provider: Provider | uuid.UUID | str | None) -> Provider | None:

    if provider is None or provider == "":
        return None
    if isinstance(provider, Provider):
        provider_id = provider.pk
    else:
        try:
            provider_id = as_uuid(provider)
        except NotFound:
            raise ValidationFailed.field("provider", "Not a provider id.") from None
    row = Provider.objects.filter(pk=provider_id).first()
    if row is None:
        raise ValidationFailed.field("provider", "No such provider.")
    if not row.is_active:
        raise ValidationFailed.field("provider", "This provider is not active.")
    return row


@transaction.atomic
def session_create(
    *,
    project: Project | uuid.UUID | str,
    actor: User | None,
    version: str = Tag.V2,
    provider: Provider | uuid.UUID | str | None = None,
    metadata: dict | None = None,
    user: User | None = None,
) -> AnalysisSession:
    """Start an analysis session for `actor` (or, for the system, `user`) in a project it
    may write (404 otherwise, 403 for viewers, 409 project_archived). A session that
    names a provider checks its user's quota first: over quota → QuotaExceeded (429 with
    Retry-After) and nothing is written."""

    owner = actor if user is None else user
    if owner is None:
        raise ValidationFailed.field("user", "A session belongs to a user.")
    if actor is not None and user is not None and user != actor and not actor.is_admin_role:
        raise ValidationFailed.field("user", "Only administrators may start sessions for other users.")
    version = rules.choice(version, "version", Tag)
    metadata = rules.json_object(metadata, "metadata")
    project = project_for_write(project_id=getattr(project, "pk", project), actor=actor)
    provider = _resolve_provider(provider)
    if provider is not None:
        quota_check(user=owner)
    session = AnalysisSession.objects.create(
        user=owner, project=project, version=version, provider=provider, metadata=metadata
    )
    audit_record(
        entity="analysis_session",
        action="create",
        actor=actor,
        payload={
            "id": str(session.pk),
            "project": str(project.pk),
            "user": str(owner.pk),
            "version": version,
            "provider": str(provider.pk) if provider else None,
            "status": session.status,
            "metadata_sha256": _json_sha(metadata),
        },
    )
    return session


def _move_session(locked: AnalysisSession, to: str, actor: User | None, now: datetime, **extra: Any) -> None:
    """Move a session whose row the caller holds locked; stamps started_at/finished_at."""
    frm = locked.status
    if to not in SESSION_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=to, entity="analysis session")
    fields = ["status", "updated_at"]
    locked.status = to
    locked.updated_at = now
    if to == SessionStatus.RUNNING:
        locked.started_at = now
        fields.append("started_at")
    elif locked.is_terminal:
        locked.finished_at = not_before(now, locked.started_at)
        fields.append("finished_at")
    if "error_message" in extra:
        locked.error_message = extra["error_message"]
        fields.append("error_message")
    locked.save(update_fields=fields)
    payload = {"id": str(locked.pk), "project": str(locked.project_id), "from": frm, "to": to}
    payload.update({k: v for k, v in extra.items() if k != "error_message"})
    audit_record(entity="analysis_session", action="transition", actor=actor, payload=payload)


def session_walk_to_running(locked: AnalysisSession, actor: User | None, now: datetime, reason: str) -> None:
    """created → queued → running, each move recorded, as far as the session needs."""
    if locked.status == SessionStatus.CREATED:
        _move_session(locked, SessionStatus.QUEUED, actor, now, reason=reason)
    if locked.status == SessionStatus.QUEUED:
        _move_session(locked, SessionStatus.RUNNING, actor, now, reason=reason)


def _task_counts(session_id: uuid.UUID) -> tuple[int, int, int]:
    """(open, failed, total) tasks of a session, read in a fresh statement (see the module
    docstring: called with the session locked)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'running')), "
            "count(*) FILTER (WHERE status = 'failed'), count(*) FROM analysis_tasks WHERE session_id = %s",
            [session_id],
        )
        return cursor.fetchone()


def _skip_open_tasks(session_id: uuid.UUID, now: datetime, reason: str) -> int:
    """Every pending or running task of the session becomes skipped (one statement)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE analysis_tasks
               SET status = 'skipped', updated_at = %(now)s, finished_at = GREATEST(%(now)s, started_at),
                   error_message = CASE WHEN error_message = '' THEN %(reason)s ELSE error_message END,
                   duration_ms = FLOOR(EXTRACT(EPOCH FROM (GREATEST(%(now)s, started_at) - started_at)) * 1000)
             WHERE session_id = %(session)s AND status IN ('pending', 'running')
            """,
            {"now": now, "reason": reason, "session": session_id},
        )
        return cursor.rowcount


def session_finish_if_done(locked: AnalysisSession, actor: User | None, now: datetime) -> None:
    """When every task of the session is terminal, the session finishes: failed if any
    task failed, else completed (walking through queued and running if it had not yet)."""
    if locked.is_terminal:
        return
    open_count, failed, total = _task_counts(locked.pk)
    if open_count or not total:
        return
    reason = "all tasks finished"
    session_walk_to_running(locked, actor, now, reason)
    if failed:
        message = f"{failed} of {total} task{'s' if total != 1 else ''} failed."
        _move_session(
            locked, SessionStatus.FAILED, actor, now, reason=reason, failed_tasks=failed, error_message=message
        )
    else:
        _move_session(locked, SessionStatus.COMPLETED, actor, now, reason=reason)


@transaction.atomic
def session_transition(
    *, session: AnalysisSession, to: str, actor: User | None, error_message: str = ""
) -> AnalysisSession:
    """Move a session along created → queued → running → completed | failed (cancelled:
    session_cancel). 409 invalid_transition for any other move. Completing needs every
    task finished and none failed (409 conflict otherwise); failing skips the open tasks."""
    to = rules.choice(to, "to", SessionStatus)
    error_message = rules.text(error_message, "error_message")
    if to == SessionStatus.CANCELLED:
        return session_cancel(session=session, actor=actor, reason=error_message)
    locked = session_lock_for_write(session, actor)
    if to not in SESSION_MOVES[locked.status]:
        raise InvalidTransition(frm=locked.status, to=to, entity="analysis session")
    now = timezone.now()
    extra: dict[str, Any] = {}
    if to == SessionStatus.COMPLETED:
        open_count, failed, _total = _task_counts(locked.pk)
        if open_count or failed:
            raise Conflict(
                "A session completes only when all its tasks finished and none failed.",
                details={"open_tasks": open_count, "failed_tasks": failed},
            )
    elif to == SessionStatus.FAILED:
        extra["skipped_tasks"] = _skip_open_tasks(locked.pk, now, "session failed")
        extra["error_message"] = error_message
    _move_session(locked, to, actor, now, **extra)
    return locked


@transaction.atomic
def session_cancel(*, session: AnalysisSession, actor: User | None, reason: str = "") -> AnalysisSession:
    """Cancel a session that has not finished (409 invalid_transition otherwise); its
    pending and running tasks become skipped, in the same transaction."""
    reason = rules.text(reason, "reason")
    locked = session_lock_for_write(session, actor)
    if SessionStatus.CANCELLED not in SESSION_MOVES[locked.status]:
        raise InvalidTransition(frm=locked.status, to=SessionStatus.CANCELLED, entity="analysis session")
    now = timezone.now()
    skipped = _skip_open_tasks(locked.pk, now, "session cancelled")
    extra: dict[str, Any] = {"skipped_tasks": skipped}
    if reason:
        extra.update(reason=reason, error_message=reason)
    _move_session(locked, SessionStatus.CANCELLED, actor, now, **extra)
    return locked
