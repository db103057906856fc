"""Reads of the production zone, with visibility applied: admins and viewers see every
analysis session; a user sees the sessions it started; anyone else sees nothing. Another
user's session (and everything in it) is a 404, never a 403."""

from __future__ import annotations

from django.db.models import QuerySet

from core import sqljson
from core.db import prepared
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


def _restrict(queryset: QuerySet, user, prefix: str = "") -> QuerySet:
    flt = visible_sessions_filter(user, prefix)
    if flt is None:
        return queryset.none()
    return queryset.filter(**flt) if flt else queryset


def session_list(*, user) -> QuerySet[AnalysisSession]:
    """Visible sessions, newest first. The list renders foreign keys as ids: no joins."""
    return _restrict(AnalysisSession.objects.all(), user)


def sees_every_session(user) -> bool:
    """Whether session_list(user=user) is the whole table (no visibility filter)."""
    return visible_sessions_filter(user) == {}


def session_get(*, user, pk) -> AnalysisSession:
    """The session `user` may see (NotFound otherwise)."""
    try:
        return session_list(user=user).get(pk=as_uuid(pk))
    except AnalysisSession.DoesNotExist:
        raise NotFound("Analysis session not found.") from None


def _columns(model) -> list:
    return [field for field in model._meta.concrete_fields]


_SESSION_FIELDS = _columns(AnalysisSession)
_TASK_FIELDS = _columns(AnalysisTask)
# The hot read of the API (a session with its tasks), written once in SQL: one round trip
# instead of two, and no ORM compilation per request (see docs/production.md).
_DETAIL_SQL = (
    f"SELECT {prepared.columns(_SESSION_FIELDS, 's')}, {prepared.columns(_TASK_FIELDS, 't')}"
    " FROM analysis_sessions s LEFT JOIN analysis_tasks t ON t.session_id = s.id WHERE s.id = %s {scope}"
    " ORDER BY t.created_at, t.id"
)


def _detail_scope(user, pk) -> tuple[str, list]:
    """(SQL condition after `s.id = %s`, its parameters with the id first) restricting a
    session detail aliased `s` to what `user` may see; NotFound when that is nothing."""
    visible = visible_sessions_filter(user)
    if visible is None:
        raise NotFound("Analysis session not found.")
    if visible:
        return "AND s.user_id = %s", [as_uuid(pk), visible["user_id"]]
    return "", [as_uuid(pk)]


def session_detail(*, user, pk) -> AnalysisSession:
    """The session `user` may see, with its tasks in creation order as `task_list`
    (NotFound otherwise). One query."""
    from django.db import connections, router

    scope, params = _detail_scope(user, pk)
    connection = connections[router.db_for_read(AnalysisSession)]
    with connection.cursor() as cursor:
        cursor.execute(_DETAIL_SQL.format(scope=scope), params)
        rows = cursor.fetchall()
    if not rows:
        raise NotFound("Analysis session not found.")
    width = len(_SESSION_FIELDS)
    session = prepared.instance_from_row(AnalysisSession, _SESSION_FIELDS, rows[0][:width], connection.alias)
    session.task_list = [
        prepared.instance_from_row(AnalysisTask, _TASK_FIELDS, row[width:], connection.alias)
        for row in rows
        if row[width] is not None
    ]
    return session


def session_detail_document(*, user, pk, document: str) -> str:
    """session_detail rendered by PostgreSQL: `document` is the SQL (over the session
    aliased `s`) of its JSON, built from the output serializers by the API
    (core.sqljson). The same visibility and NotFound; one query."""
    scope, params = _detail_scope(user, pk)
    sql = f"SELECT {document}::text FROM analysis_sessions s WHERE s.id = %s {scope}"
    text = sqljson.fetch_document(AnalysisSession, sql, params)
    if text is None:
        raise NotFound("Analysis session not found.")
    return text


def task_list(*, session: AnalysisSession) -> QuerySet[AnalysisTask]:
    return AnalysisTask.objects.filter(session_id=session.pk).order_by("created_at", "id")


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
