"""Writes of the production zone: atomic, validated and audited in the same transaction.

Who may write: a session's own user or an admin (viewers nothing; another user's session
is a 404), and only while the session's project is not archived (409 project_archived).
`actor=None` is the system (management commands, importers) and may write.

Locking, always in this order, so concurrent writers cannot deadlock:
    project (FOR SHARE, projects.selectors.project_for_write: refuses archived projects)
    → session (FOR NO KEY UPDATE: serializes the session's moves and its tasks' moves,
      without blocking inserts of artifacts or results that reference it)
    → task rows (FOR UPDATE; several at once in primary-key order).

The concurrent-finish race: every task move locks its session first, then the task,
and counts the session's open tasks inside that lock, in a statement that starts after
the lock was granted. Under READ COMMITTED that statement sees every task move that
committed before, so of two tasks finishing at the same moment, the second to get the
lock sees the first one's move and finishes the session, exactly once.

Audit payloads carry ids, statuses, times, sizes and SHA-256 digests of JSON documents
(results, metadata), never user JSON itself: it may hold keys the audit log refuses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, InvalidTransition, NotFound, ValidationFailed
from production import rules
from production.models import (
    SESSION_MOVES,
    SESSION_TERMINAL,
    TASK_MOVES,
    AnalysisSession,
    AnalysisTask,
    Artifact,
    CodeReviewResult,
    SessionStatus,
    TaskStatus,
)
from projects.models import Project, Tag
from projects.selectors import as_uuid, check_can_write, project_for_write

UNSET: Any = object()

# Advisory lock of `manage.py purge_expired` (session-scoped: one run at a time).
PURGE_LOCK = 7308001


def _json_sha(value) -> str | None:
    return None if value is None else canonical.sha256_hex(value)


def _check_writer(session: AnalysisSession, actor) -> None:
    """The session's own user or an admin; viewers are refused (403), other users get
    the 404 they would get reading it."""
    if actor is None:
        return
    check_can_write(actor)
    if not actor.is_admin_role and session.user_id != actor.pk:
        raise NotFound("Analysis session not found.")


def _lock_for_write(session: AnalysisSession, actor) -> AnalysisSession:
    """Permission, project share lock (archived → 409), then the session row lock."""
    _check_writer(session, actor)
    project_for_write(project_id=session.project_id, actor=None)
    return _lock_session(session.pk)


def _lock_session(session_id) -> AnalysisSession:
    try:
        return AnalysisSession.objects.select_for_update(no_key=True).get(pk=session_id)
    except AnalysisSession.DoesNotExist:
        raise NotFound("Analysis session not found.") from None


def _later(now: datetime, earlier: datetime | None) -> datetime:
    # App servers' clocks may differ by a little: never stamp an end before its start.
    return now if earlier is None or now >= earlier else earlier


# ---------------------------------------------------------------------------------------
# Sessions


def _resolve_provider(provider):
    from providers.models import Provider

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
    actor,
    version: str = Tag.V2,
    provider=None,
    metadata: dict | None = None,
    user=None,
) -> AnalysisSession:
    """Start an analysis session for `actor` (or, for the system, `user`) in a project it
    may write (404 otherwise, 403 for viewers, 409 project_archived). A session that
    names a provider checks its user's quota first: over quota → QuotaExceeded (429 with
    Retry-After) and nothing is written."""
    from providers.services import quota_check

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


def _move_session(locked: AnalysisSession, to: str, actor, now: datetime, **extra) -> None:
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
        locked.finished_at = _later(now, locked.started_at)
        fields.append("finished_at")
    if "error_message" in extra:
        locked.error_message = extra["error_message"]
        fields.append("error_message")
    locked.save(update_fields=fields)
    payload = {"id": str(locked.pk), "project": str(locked.project_id), "from": frm, "to": to}
    payload.update({k: v for k, v in extra.items() if k != "error_message"})
    audit_record(entity="analysis_session", action="transition", actor=actor, payload=payload)


def _walk_to_running(locked: AnalysisSession, actor, now: datetime, reason: str) -> None:
    """created → queued → running, each move recorded, as far as the session needs."""
    if locked.status == SessionStatus.CREATED:
        _move_session(locked, SessionStatus.QUEUED, actor, now, reason=reason)
    if locked.status == SessionStatus.QUEUED:
        _move_session(locked, SessionStatus.RUNNING, actor, now, reason=reason)


def _task_counts(session_id) -> tuple[int, int, int]:
    """(open, failed, total) tasks of a session, read in a fresh statement (see the module
    docstring: called with the session locked)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN ('pending', 'running')), "
            "count(*) FILTER (WHERE status = 'failed'), count(*) FROM analysis_tasks WHERE session_id = %s",
            [session_id],
        )
        return cursor.fetchone()


def _skip_open_tasks(session_id, now: datetime, reason: str) -> int:
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


def _finish_if_done(locked: AnalysisSession, actor, now: datetime) -> None:
    """When every task of the session is terminal, the session finishes: failed if any
    task failed, else completed (walking through queued and running if it had not yet)."""
    if locked.is_terminal:
        return
    open_count, failed, total = _task_counts(locked.pk)
    if open_count or not total:
        return
    reason = "all tasks finished"
    _walk_to_running(locked, actor, now, reason)
    if failed:
        message = f"{failed} of {total} task{'s' if total != 1 else ''} failed."
        _move_session(
            locked, SessionStatus.FAILED, actor, now, reason=reason, failed_tasks=failed, error_message=message
        )
    else:
        _move_session(locked, SessionStatus.COMPLETED, actor, now, reason=reason)


@transaction.atomic
def session_transition(*, session: AnalysisSession, to: str, actor, error_message: str = "") -> AnalysisSession:
    """Move a session along created → queued → running → completed | failed (cancelled:
    session_cancel). 409 invalid_transition for any other move. Completing needs every
    task finished and none failed (409 conflict otherwise); failing skips the open tasks."""
    to = rules.choice(to, "to", SessionStatus)
    error_message = rules.text(error_message, "error_message")
    if to == SessionStatus.CANCELLED:
        return session_cancel(session=session, actor=actor, reason=error_message)
    locked = _lock_for_write(session, actor)
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
def session_cancel(*, session: AnalysisSession, actor, reason: str = "") -> AnalysisSession:
    """Cancel a session that has not finished (409 invalid_transition otherwise); its
    pending and running tasks become skipped, in the same transaction."""
    reason = rules.text(reason, "reason")
    locked = _lock_for_write(session, actor)
    if SessionStatus.CANCELLED not in SESSION_MOVES[locked.status]:
        raise InvalidTransition(frm=locked.status, to=SessionStatus.CANCELLED, entity="analysis session")
    now = timezone.now()
    skipped = _skip_open_tasks(locked.pk, now, "session cancelled")
    extra: dict[str, Any] = {"skipped_tasks": skipped}
    if reason:
        extra.update(reason=reason, error_message=reason)
    _move_session(locked, SessionStatus.CANCELLED, actor, now, **extra)
    return locked


# ---------------------------------------------------------------------------------------
# Tasks


@transaction.atomic
def task_create(*, session: AnalysisSession, type: str, actor) -> AnalysisTask:
    """Add a pending task to a session that has not finished (409 conflict otherwise)."""
    kind = rules.task_type(type)
    locked = _lock_for_write(session, actor)
    if locked.is_terminal:
        raise Conflict(
            f"The session is {locked.status}: it takes no new tasks.", details={"session_status": locked.status}
        )
    task = AnalysisTask.objects.create(session=locked, type=kind)
    audit_record(
        entity="analysis_task",
        action="create",
        actor=actor,
        payload={"id": str(task.pk), "session": str(locked.pk), "type": kind, "status": task.status},
    )
    return task


def _lock_task(task_id, session_id) -> AnalysisTask:
    try:
        return AnalysisTask.objects.select_for_update().get(pk=task_id, session_id=session_id)
    except AnalysisTask.DoesNotExist:
        raise NotFound("Task not found.") from None


@transaction.atomic
def task_update(
    *, task: AnalysisTask, actor, status: str = UNSET, result: Any = UNSET, error_message: str = UNSET
) -> AnalysisTask:
    """Move a task (pending → running → completed | failed | skipped; pending → skipped)
    and/or set its result and error message. The service stamps started_at and
    finished_at from the moves and stores duration_ms, derived from the two. A finished
    task is final (409). The first task to run starts its session; when the last open
    task finishes, the session finishes (see the module docstring for the race)."""
    if status is not UNSET:
        status = rules.choice(status, "status", TaskStatus)
    if error_message is not UNSET:
        error_message = rules.text(error_message, "error_message")
    # A session's user and project never change: reading them before the locks is safe.
    if AnalysisTask._meta.get_field("session").is_cached(task):
        session = task.session
    else:
        session = AnalysisSession.objects.only("id", "user_id", "project_id").get(pk=task.session_id)
    locked_session = _lock_for_write(session, actor)
    locked = _lock_task(task.pk, locked_session.pk)
    frm = locked.status
    moving = status is not UNSET and status != frm
    changing = (result is not UNSET and result != locked.result) or (
        error_message is not UNSET and error_message != locked.error_message
    )
    if not moving and not changing:
        return locked
    if locked.is_terminal and not moving:
        raise Conflict("The task has finished: its result is final.", details={"status": frm})
    if moving and status not in TASK_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=status, entity="task")
    now = timezone.now()
    fields = ["updated_at"]
    locked.updated_at = now
    if result is not UNSET:
        locked.result = result
        fields.append("result")
    if error_message is not UNSET:
        locked.error_message = error_message
        fields.append("error_message")
    if moving:
        locked.status = status
        fields.append("status")
        if status == TaskStatus.RUNNING:
            locked.started_at = now
            fields.append("started_at")
            _walk_to_running(locked_session, actor, now, "first task started")
        else:
            locked.finished_at = _later(now, locked.started_at)
            locked.duration_ms = rules.duration_ms(locked.started_at, locked.finished_at)
            fields += ["finished_at", "duration_ms"]
    locked.save(update_fields=fields)
    payload = {"id": str(locked.pk), "session": str(locked_session.pk), "type": locked.type}
    if moving:
        payload.update({"from": frm, "to": status, "duration_ms": locked.duration_ms})
    if result is not UNSET:
        payload["result_sha256"] = _json_sha(locked.result)
    audit_record(entity="analysis_task", action="transition" if moving else "update", actor=actor, payload=payload)
    if moving and locked.is_terminal:
        _finish_if_done(locked_session, actor, now)
    return locked


# ---------------------------------------------------------------------------------------
# Artifacts and code-review results


@transaction.atomic
def artifact_create(
    *,
    session: AnalysisSession,
    actor,
    type: str,
    s3_uri: str,
    sha256: str,
    size_bytes: int,
    metadata: dict | None = None,
    expires_at: datetime | None = None,
) -> Artifact:
    """Record a file a session produced (any status: logs and reports of failed or
    cancelled sessions are worth keeping). `expires_at`, when given, must be in the future:
    `manage.py purge_expired` deletes the row once it has passed."""
    values = {
        "type": rules.artifact_type(type),
        "s3_uri": rules.storage_uri(s3_uri),
        "sha256": rules.sha256(sha256),
        "size_bytes": rules.whole_number(size_bytes, "size_bytes"),
        "metadata": rules.json_object(metadata, "metadata"),
        "expires_at": rules.future_time(expires_at, "expires_at", now=timezone.now()),
    }
    _check_writer(session, actor)
    project_for_write(project_id=session.project_id, actor=None)
    artifact = Artifact.objects.create(session_id=session.pk, **values)
    audit_record(
        entity="artifact",
        action="create",
        actor=actor,
        payload={
            "id": str(artifact.pk),
            "session": str(session.pk),
            "type": artifact.type,
            "uri": artifact.s3_uri,
            "sha256": artifact.sha256,
            "size_bytes": artifact.size_bytes,
            "expires_at": artifact.expires_at,
        },
    )
    return artifact


@transaction.atomic
def code_review_create(
    *,
    session: AnalysisSession,
    actor,
    code_language: str,
    code_length: int,
    overall_score,
    vulnerabilities_count: int = 0,
    issues_count: int = 0,
    model_used: str = "",
    analysis_time_ms: int | None = None,
) -> CodeReviewResult:
    """Record a code-review result of a session: score 0–100 (two decimals at most),
    counts ≥ 0, the language normalized to lower case."""
    values = {
        "code_language": rules.language(code_language),
        "code_length": rules.whole_number(code_length, "code_length"),
        "overall_score": rules.score(overall_score),
        "vulnerabilities_count": rules.whole_number(
            vulnerabilities_count, "vulnerabilities_count", maximum=rules.MAX_INT
        ),
        "issues_count": rules.whole_number(issues_count, "issues_count", maximum=rules.MAX_INT),
        "model_used": rules.text(model_used, "model_used", max_length=200),
        "analysis_time_ms": rules.whole_number(analysis_time_ms, "analysis_time_ms", allow_none=True),
    }
    _check_writer(session, actor)
    project_for_write(project_id=session.project_id, actor=None)
    review = CodeReviewResult.objects.create(session_id=session.pk, **values)
    audit_record(
        entity="code_review",
        action="create",
        actor=actor,
        payload={"id": str(review.pk), "session": str(session.pk), **values},
    )
    return review


# ---------------------------------------------------------------------------------------
# Purge


@dataclass
class PurgeReport:
    """What purge_expired did (or, in a dry run, would do)."""

    before: datetime
    dry_run: bool
    artifacts: int = 0
    artifact_batches: int = 0
    accounts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        parts = [f"{self.artifacts} expired artifact(s)"]
        if not self.dry_run:
            parts[0] += f" in {self.artifact_batches} batch(es)"
        parts += [
            f"{self.accounts.get('sessions', 0)} expired login session(s)",
            f"{self.accounts.get('resets', 0)} used or expired password reset(s)",
            f"{self.accounts.get('invitations', 0)} expired invitation(s)",
        ]
        return (
            f"purge_expired{' (dry run)' if self.dry_run else ''}: {verb} "
            + ", ".join(parts)
            + (f" (expired at or before {self.before.isoformat()})")
        )


def artifacts_purge_expired(
    *, now: datetime | None = None, batch_size: int = 1000, dry_run: bool = False, actor=None, progress=None
) -> tuple[int, int]:
    """Delete artifacts whose expires_at is at or before `now`, `batch_size` rows per
    transaction, each batch recording one audit entry that summarizes it (count, the
    cut-off, the ids' range). Rows locked by a writer are skipped this run (SKIP LOCKED)
    and taken by the next. Returns (deleted, batches); a dry run counts and writes
    nothing. Idempotent: a second run finds nothing to delete and records nothing."""
    now = now or timezone.now()
    rules.whole_number(batch_size, "batch_size", minimum=1, maximum=100_000)
    if dry_run:
        return Artifact.objects.filter(expires_at__lte=now).count(), 0
    deleted = batches = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    DELETE FROM artifacts WHERE id IN (
                        SELECT id FROM artifacts WHERE expires_at <= %s
                        ORDER BY expires_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
                    RETURNING id, session_id, size_bytes
                    """,
                    [now, batch_size],
                )
                rows = cursor.fetchall()
            if rows:
                ids = sorted(str(row[0]) for row in rows)
                audit_record(
                    entity="artifact",
                    action="purge",
                    actor=actor,
                    payload={
                        "count": len(rows),
                        "before": now,
                        "bytes": sum(row[2] for row in rows),
                        "sessions": len({row[1] for row in rows}),
                        "first_id": ids[0],
                        "last_id": ids[-1],
                        "batch": batches + 1,
                    },
                )
        if not rows:
            return deleted, batches
        deleted += len(rows)
        batches += 1
        if progress is not None:
            progress(len(rows))
        if len(rows) < batch_size:
            return deleted, batches


def purge_expired(
    *, now: datetime | None = None, batch_size: int = 1000, dry_run: bool = False, actor=None, progress=None
) -> PurgeReport:
    """Everything `manage.py purge_expired` deletes: expired artifacts (batched, see
    artifacts_purge_expired), then expired login sessions, used or expired password
    resets and expired invitations (accounts.services.accounts_purge_expired, batched
    the same way). One cut-off time for the whole run."""
    from accounts.services import accounts_purge_expired

    now = now or timezone.now()
    report = PurgeReport(before=now, dry_run=dry_run)
    report.artifacts, report.artifact_batches = artifacts_purge_expired(
        now=now, batch_size=batch_size, dry_run=dry_run, actor=actor, progress=progress
    )
    report.accounts = accounts_purge_expired(now=now, dry_run=dry_run, actor=actor, batch_size=batch_size)
    return report


# ---------------------------------------------------------------------------------------
# Bulk import (the legacy file store's analyses, manage.py import_legacy)


@dataclass
class AnalysisImport:
    """One past analysis: a finished (or cancelled) session and, when the analysis had a
    response, its code-review result."""

    user_id: Any
    project_id: Any
    version: str
    status: str  # completed | failed | cancelled
    error_message: str
    created_at: datetime
    duration_ms: int | None
    metadata: dict
    review: dict | None = None  # code_language, overall_score, counts, model_used


def _analysis_checked(row: AnalysisImport) -> tuple[dict, dict | None]:
    status = rules.choice(row.status, "status", SessionStatus)
    if status not in SESSION_TERMINAL:
        raise ValidationFailed.field("status", "An imported analysis is finished: completed, failed or cancelled.")
    duration = rules.whole_number(row.duration_ms, "processing_time_ms", allow_none=True)
    finished = row.created_at + timedelta(milliseconds=duration or 0)
    session = {
        "version": rules.choice(row.version, "version", Tag),
        "status": status,
        "error_message": rules.text(row.error_message, "error_message"),
        "metadata": rules.json_object(row.metadata, "metadata"),
        # A past analysis ran from its creation for its processing time (cancelled ones
        # may never have started: started only when they had a processing time).
        "started_at": row.created_at if (status != SessionStatus.CANCELLED or duration) else None,
        "finished_at": finished,
    }
    review = None
    if row.review is not None:
        r = row.review
        review = {
            "code_language": rules.language(r.get("code_language")),
            "code_length": rules.whole_number(r.get("code_length", 0), "code_length"),
            "overall_score": rules.score(r.get("overall_score")),
            "vulnerabilities_count": rules.whole_number(
                r.get("vulnerabilities_count", 0), "vulnerabilities_count", maximum=2**31 - 1
            ),
            "issues_count": rules.whole_number(r.get("issues_count", 0), "issues_count", maximum=2**31 - 1),
            "model_used": rules.text(r.get("model_used", ""), "model_used", max_length=200),
            "analysis_time_ms": duration,
        }
    return session, review


@transaction.atomic
def analyses_import(*, rows: list[AnalysisImport], actor, context: dict | None = None) -> list:
    """Write many past analyses (legacy import): each a terminal analysis session with its
    request/response kept in metadata and, when there was a response, one code-review
    result. The same rules as session_create/code_review_create (choices, scores, counts,
    languages, the status/time consistency the table's checks enforce), in two set-based
    statements and one audit entry for the batch. Users and projects are resolved by the
    caller; an archived project takes its history. Returns core.bulk.RowResults (the
    session's id)."""
    from core import bulk
    from core.ids import uuid7

    results: list = [None] * len(rows)
    sessions, reviews = [], []
    for index, row in enumerate(rows):
        try:
            session, review = _analysis_checked(row)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        session_id = str(uuid7())
        sessions.append(
            [
                session_id,
                str(row.user_id),
                str(row.project_id),
                session["version"],
                session["status"],
                session["started_at"],
                session["finished_at"],
                session["error_message"],
                session["metadata"],
                row.created_at,
            ]
        )
        if review is not None:
            reviews.append(
                [
                    str(uuid7()),
                    session_id,
                    review["code_language"],
                    review["code_length"],
                    review["overall_score"],
                    review["vulnerabilities_count"],
                    review["issues_count"],
                    review["model_used"],
                    review["analysis_time_ms"],
                    row.created_at,
                ]
            )
        results[index] = bulk.created(session_id)
    if not sessions:
        return results
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO analysis_sessions (id, user_id, project_id, version, status, started_at, finished_at,
                                           error_message, metadata, created_at, updated_at)
            SELECT (r->>0)::uuid, (r->>1)::uuid, (r->>2)::uuid, r->>3, r->>4, (r->>5)::timestamptz,
                   (r->>6)::timestamptz, r->>7, r->8, (r->>9)::timestamptz, (r->>9)::timestamptz
            FROM jsonb_array_elements(%s::jsonb) AS r
            """,
            [bulk.json_rows(sessions)],
        )
        if reviews:
            cursor.execute(
                """
                INSERT INTO code_review_results (id, session_id, code_language, code_length, overall_score,
                                                 vulnerabilities_count, issues_count, model_used, analysis_time_ms,
                                                 created_at)
                SELECT (r->>0)::uuid, (r->>1)::uuid, r->>2, (r->>3)::bigint, (r->>4)::numeric, (r->>5)::int,
                       (r->>6)::int, r->>7, (r->>8)::bigint, (r->>9)::timestamptz
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [bulk.json_rows(reviews)],
            )
    statuses: dict[str, int] = {}
    for s in sessions:
        statuses[s[4]] = statuses.get(s[4], 0) + 1
    audit_record(
        entity="analysis_session",
        action="import",
        actor=actor,
        payload={**(context or {}), "sessions": len(sessions), "reviews": len(reviews), "statuses": statuses},
    )
    return results
