"""Bulk import of the legacy file store's analyses (manage.py import_legacy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from audits.services import audit_record
from core import bulk
from core.exceptions import ValidationFailed
from core.ids import uuid7
from production import rules
from production.models import SESSION_TERMINAL, SessionStatus
from projects.models import Tag


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
