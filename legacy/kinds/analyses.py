"""analyses/analysis_<n>.json → an analysis session with one code-review result
(production.services.analyses_import), as FORMAT.md maps them:

    done → completed, error → failed, running → failed ("interrupted by migration"),
    cancelled → cancelled; overall_score = score × 10; request and response are kept in
    the session's metadata; an anonymous analysis belongs to the importing system user.

The analysis id is the legacy identity. The project (by slug) must have been imported."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from legacy import values
from legacy.bulk.production import AnalysisImport, analyses_import
from legacy.kinds.base import Context, Item, Pending
from legacy.models import RecordKind
from legacy.reader import RawRecord

STATUSES = {"done": "completed", "error": "failed", "running": "failed", "cancelled": "cancelled"}
INTERRUPTED = "interrupted by migration"
VERSIONS = {"v1", "v2", "v3"}


def _review(response: dict, processing: int | None) -> dict | None:
    if not response:
        return None
    raw = values.field(response, "score")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise values.Reject(f"field 'response.score' must be a number, not {raw!r}")
    try:
        score = Decimal(str(raw))
    except InvalidOperation:
        raise values.Reject(f"field 'response.score' is not a number: {raw!r}") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(10):
        raise values.Reject(f"field 'response.score' must be from 0 to 10, not {raw!r}")
    vulnerabilities = values.array(response, "vulnerabilities")
    issues = values.array(response, "issues")
    return {
        "code_language": values.text(response, "language", max_length=50),
        "code_length": 0,  # the legacy response does not say
        "overall_score": (score * 10).quantize(Decimal("0.01")),
        "vulnerabilities_count": len(vulnerabilities),
        "issues_count": len(issues),
        "model_used": values.text(response, "model", required=False, max_length=200),
        "analysis_time_ms": processing,
    }


def prepare(rec: RawRecord, ctx: Context) -> Item:
    d = rec.data
    analysis_id = values.text(d, "analysis_id", max_length=200).strip()
    legacy_status = values.text(d, "status")
    if legacy_status not in STATUSES:
        raise values.Reject(f"unknown status {legacy_status!r} (expected one of {', '.join(STATUSES)})")
    version = values.text(d, "version", required=False, default="v2")
    if version not in VERSIONS:
        raise values.Reject(f"unknown version {version!r}")
    processing = values.integer(d, "processing_time_ms") if d.get("processing_time_ms") is not None else None
    if processing is not None and processing < 0:
        raise values.Reject(f"field 'processing_time_ms' is negative ({processing})")
    request = values.obj(d, "request", required=False)
    response = values.obj(d, "response", required=False)
    row = {
        "user": values.email(d, "user", required=False),
        "project": values.text(d, "project"),
        "version": version,
        "status": STATUSES[legacy_status],
        "error_message": INTERRUPTED if legacy_status == "running" else "",
        "created_at": values.time(d, "created_at", now=ctx.now),
        "duration_ms": processing,
        "metadata": {
            "legacy_id": analysis_id,
            "legacy_status": legacy_status,
            "request": request,
            "response": response,
        },
        "review": _review(response, processing),
    }
    return Item(key=analysis_id, digest=values.digest_text(rec.text), rec=rec, value=row)


def write(items: list[Item], ctx: Context) -> list:
    users = ctx.users(it.value["user"] for it in items if it.value["user"])
    projects = ctx.targets(RecordKind.PROJECT, (it.value["project"] for it in items))
    pending = Pending(items)
    for index, it in enumerate(items):
        a = it.value
        user_id = ctx.actor.pk if a["user"] is None else users.get(a["user"])
        project_id = projects.get(a["project"])
        if user_id is None:
            pending.refuse(index, f"user {a['user']} does not exist (not in the export, or rejected)")
        elif project_id is None:
            pending.refuse(index, f"project {a['project']!r} was not imported (not in the export, or rejected)")
        else:
            pending.add(
                index,
                AnalysisImport(
                    user_id=user_id,
                    project_id=project_id,
                    **{k: v for k, v in a.items() if k not in ("user", "project")},
                ),
            )
    if not pending.rows:
        return pending.results
    return pending.finish(analyses_import(rows=pending.rows, actor=ctx.actor, context=ctx.audit_context()))
