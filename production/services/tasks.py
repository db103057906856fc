"""Tasks of an analysis session: creation and moves; the last task to finish finishes its
session (see the package docstring for the race).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core.exceptions import Conflict, InvalidTransition, NotFound
from production import rules
from production.models import TASK_MOVES, AnalysisSession, AnalysisTask, TaskStatus
from production.services.sessions import (
    UNSET,
    _json_sha,
    not_before,
    session_finish_if_done,
    session_lock_for_write,
    session_walk_to_running,
)


@transaction.atomic
def task_create(*, session: AnalysisSession, type: str, actor: User | None) -> AnalysisTask:
    """Add a pending task to a session that has not finished (409 conflict otherwise)."""
    kind = rules.task_type(type)
    locked = session_lock_for_write(session, actor)
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


def _lock_task(task_id: UUID, session_id: UUID) -> AnalysisTask:
    try:
        return AnalysisTask.objects.select_for_update().get(pk=task_id, session_id=session_id)
    except AnalysisTask.DoesNotExist:
        raise NotFound("Task not found.") from None


@transaction.atomic
def task_update(
    *, task: AnalysisTask, actor: User | None, status: str = UNSET, result: Any = UNSET, error_message: str = UNSET
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
    locked_session = session_lock_for_write(session, actor)
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
            session_walk_to_running(locked_session, actor, now, "first task started")
        else:
            locked.finished_at = not_before(now, locked.started_at)
            locked.duration_ms = rules.duration_ms(locked.started_at, locked.finished_at)
            fields += ["finished_at", "duration_ms"]
    locked.save(update_fields=fields)
    payload: dict[str, object] = {"id": str(locked.pk), "session": str(locked_session.pk), "type": locked.type}
    if moving:
        payload.update({"from": frm, "to": status, "duration_ms": locked.duration_ms})
    if result is not UNSET:
        payload["result_sha256"] = _json_sha(locked.result)
    audit_record(entity="analysis_task", action="transition" if moving else "update", actor=actor, payload=payload)
    if moving and locked.is_terminal:
        session_finish_if_done(locked_session, actor, now)
    return locked
