"""Reads of the production zone, with visibility applied: admins and viewers see every
analysis session; a user sees the sessions it started; anyone else sees nothing. Another
user's session (and everything in it) is a 404, never a 403."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db.models import Expression, OuterRef, Prefetch, QuerySet

from core import sqljson
from core.exceptions import NotFound
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult
from projects.selectors import as_uuid


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def sees_all_sessions(user) -> bool:
    return _active(user) and user.role in ("admin", "viewer")


def visible_sessions_filter(user, prefix: str = "") -> dict | None:
    """ORM filter kwargs restricting rows (reached through `prefix`) to the sessions `user`
    may see: {} for everything, None for nothing."""
    if sees_all_sessions(user):
        return {}
    if _active(user) and user.role == "user":
        return {f"{prefix}user_id": user.pk}
    return None


def _visible_sessions(**visible) -> QuerySet[AnalysisSession]:
    """Every session cut by a visibility filter's values: {} for all."""
    return AnalysisSession.objects.filter(**visible)


def session_list_parts(*, user) -> tuple[Callable[..., QuerySet[AnalysisSession]], dict] | None:
    """session_list(user=user) as (rows, values): rows(**values) is that queryset and the
    values are all it takes from `user`, so a list can be compiled once with stand-ins
    for them (core.api.lists). None when `user` sees nothing."""
    visible = visible_sessions_filter(user)
    return None if visible is None else (_visible_sessions, visible)


def session_list(*, user) -> QuerySet[AnalysisSession]:
    """Visible sessions, newest first. The list renders foreign keys as ids: no joins."""
    parts = session_list_parts(user=user)
    return AnalysisSession.objects.none() if parts is None else parts[0](**parts[1])


@functools.cache
def _rendered(document: Expression) -> QuerySet:
    """Every session as the JSON text of `document` (core.sqljson), built once per process:
    resolving a rendering's expressions is most of the ORM's work for a detail. Never
    evaluated itself: callers filter a clone."""
    return sqljson.documents(AnalysisSession.objects.all(), document)


def sees_every_session(user) -> bool:
    """Whether session_list(user=user) is the whole table (no visibility filter)."""
    return visible_sessions_filter(user) == {}


def session_get(*, user, pk) -> AnalysisSession:
    """The session `user` may see (NotFound otherwise)."""
    try:
        return session_list(user=user).get(pk=as_uuid(pk))
    except AnalysisSession.DoesNotExist:
        raise NotFound("Analysis session not found.") from None


TASK_ORDER = ("created_at", "id")  # a session's tasks, in creation order


def _tasks_of(session_id) -> QuerySet[AnalysisTask]:
    """The tasks of a session (an id, or an OuterRef of a session row), in creation order."""
    return AnalysisTask.objects.filter(session_id=session_id).order_by(*TASK_ORDER)


def session_detail_list(*, user) -> QuerySet[AnalysisSession]:
    """session_list, each session with its tasks in creation order as `task_list`."""
    tasks = Prefetch("tasks", queryset=AnalysisTask.objects.order_by(*TASK_ORDER), to_attr="task_list")
    return session_list(user=user).prefetch_related(tasks)


def session_detail(*, user, pk) -> AnalysisSession:
    """The session `user` may see, with its tasks in creation order as `task_list`
    (NotFound otherwise)."""
    try:
        return session_detail_list(user=user).get(pk=as_uuid(pk))
    except AnalysisSession.DoesNotExist:
        raise NotFound("Analysis session not found.") from None


def session_tasks_json(serializer_class) -> Expression | None:
    """The tasks of the enclosing session row as a JSON array rendered by
    `serializer_class` (core.sqljson), in task_list's order; None if SQL cannot render it."""
    return sqljson.json_list(_tasks_of(OuterRef("pk")), serializer_class)


def session_detail_document(*, user, pk, document: Expression) -> str:
    """session_detail rendered by PostgreSQL: `document` is the expression of its JSON
    text over session_list's rows, built once from the output serializers by the API
    (core.sqljson, its tasks from session_tasks_json). The same rows and visibility
    rule, so the same NotFound; one query, compiled once per rendering and rule
    (core.sqljson.first_document_compiled)."""
    visible = visible_sessions_filter(user)
    if visible is None:
        raise NotFound("Analysis session not found.")
    text = sqljson.first_document_compiled(
        (document, *visible), lambda **values: _rendered(document).filter(**values), pk=as_uuid(pk), **visible
    )
    if text is None:
        raise NotFound("Analysis session not found.")
    return text


def task_list(*, session: AnalysisSession) -> QuerySet[AnalysisTask]:
    return _tasks_of(session.pk)


def task_get(*, session: AnalysisSession, pk) -> AnalysisTask:
    try:
        task = task_list(session=session).get(pk=as_uuid(pk))
    except AnalysisTask.DoesNotExist:
        raise NotFound("Task not found.") from None
    task.session = session  # the services reuse it (its user and project never change)
    return task


def artifact_list(*, session: AnalysisSession) -> QuerySet[Artifact]:
    return Artifact.objects.filter(session_id=session.pk).order_by("created_at", "id")


def artifact_get(*, session: AnalysisSession, pk) -> Artifact:
    try:
        return artifact_list(session=session).get(pk=as_uuid(pk))
    except Artifact.DoesNotExist:
        raise NotFound("Artifact not found.") from None


def code_review_list(*, session: AnalysisSession) -> QuerySet[CodeReviewResult]:
    return CodeReviewResult.objects.filter(session_id=session.pk).order_by("created_at", "id")


def code_review_get(*, session: AnalysisSession, pk) -> CodeReviewResult:
    try:
        return code_review_list(session=session).get(pk=as_uuid(pk))
    except CodeReviewResult.DoesNotExist:
        raise NotFound("Code-review result not found.") from None
