"""Test data built through the services, so rows are exactly what production writes."""

from __future__ import annotations

import hashlib
import itertools

from production import services
from production.models import AnalysisSession, AnalysisTask, SessionStatus, TaskStatus

_seq = itertools.count(1)

# The moves that take a task from pending to each status.
TASK_PATHS = {
    TaskStatus.PENDING: [],
    TaskStatus.RUNNING: [TaskStatus.RUNNING],
    TaskStatus.COMPLETED: [TaskStatus.RUNNING, TaskStatus.COMPLETED],
    TaskStatus.FAILED: [TaskStatus.RUNNING, TaskStatus.FAILED],
    TaskStatus.SKIPPED: [TaskStatus.SKIPPED],
}

SESSION_PATHS = {
    SessionStatus.CREATED: [],
    SessionStatus.QUEUED: [SessionStatus.QUEUED],
    SessionStatus.RUNNING: [SessionStatus.QUEUED, SessionStatus.RUNNING],
    SessionStatus.COMPLETED: [SessionStatus.QUEUED, SessionStatus.RUNNING, SessionStatus.COMPLETED],
    SessionStatus.FAILED: [SessionStatus.QUEUED, SessionStatus.RUNNING, SessionStatus.FAILED],
    SessionStatus.CANCELLED: [SessionStatus.CANCELLED],
}


def digest(n: int | None = None) -> str:
    return hashlib.sha256(f"artifact-{n if n is not None else next(_seq)}".encode()).hexdigest()


def make_session(user, project, *, status: str = SessionStatus.CREATED, actor=None, **fields) -> AnalysisSession:
    actor = actor if actor is not None else user
    session = services.session_create(project=project, actor=actor, **fields)
    for to in SESSION_PATHS[status]:
        session = services.session_transition(session=session, to=to, actor=actor)
    return session


def make_task(session, *, type: str = "static", status: str = TaskStatus.PENDING, actor=None) -> AnalysisTask:
    actor = actor if actor is not None else session.user
    task = services.task_create(session=session, type=type, actor=actor)
    for to in TASK_PATHS[status]:
        task = services.task_update(task=task, status=to, actor=actor)
    return task


def make_artifact(session, *, actor=None, **fields):
    values = {
        "type": "report",
        "s3_uri": f"s3://reviews-bucket/sessions/{session.pk}/report-{next(_seq)}.json",
        "sha256": digest(),
        "size_bytes": 2048,
    }
    values.update(fields)
    return services.artifact_create(session=session, actor=actor if actor is not None else session.user, **values)


def make_review(session, *, actor=None, **fields):
    values = {"code_language": "python", "code_length": 1200, "overall_score": 80}
    values.update(fields)
    return services.code_review_create(session=session, actor=actor if actor is not None else session.user, **values)
