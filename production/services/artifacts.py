"""Artifacts and code-review results attached to a session's tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from production import rules
from production.models import AnalysisSession, Artifact, CodeReviewResult
from production.services.sessions import check_writer
from projects.selectors import project_for_write


@transaction.atomic
def artifact_create(
    *,
    session: AnalysisSession,
    actor: User | None,
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
    check_writer(session, actor)
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
    actor: User | None,
    code_language: str,
    code_length: int,
    overall_score: Any,  # checked by rules (a number or its text)
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
    check_writer(session, actor)
    project_for_write(project_id=session.project_id, actor=None)
    review = CodeReviewResult.objects.create(session_id=session.pk, **values)
    audit_record(
        entity="code_review",
        action="create",
        actor=actor,
        payload={"id": str(review.pk), "session": str(session.pk), **values},
    )
    return review
