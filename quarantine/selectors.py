"""Reads of the v3 zone. Quarantine records and their re-evaluation requests are
readable by every active user, whatever the role (docs/zones.md)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.types import Reader
from core.db.counts import DEFAULT_CAP, CappedCount, capped_counts
from core.exceptions import NotFound
from projects.selectors import as_uuid
from quarantine.models import QuarantineRecord, RecordStatus, ReevaluationRequest, RequestStatus


def _active(user: Reader) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def record_list(*, user: Reader) -> QuerySet[QuarantineRecord]:
    qs = QuarantineRecord.objects.select_related("experiment")
    return qs if _active(user) else qs.none()


def record_get(*, user: Reader, pk: object) -> QuarantineRecord:
    try:
        return record_list(user=user).get(pk=as_uuid(pk))
    except QuarantineRecord.DoesNotExist:
        raise NotFound("Quarantine record not found.") from None


def reevaluation_list(*, user: Reader, record: QuarantineRecord | None = None) -> QuerySet[ReevaluationRequest]:
    qs = ReevaluationRequest.objects.select_related("quarantine_record__experiment")
    if record is not None:
        qs = qs.filter(quarantine_record=record)
    return qs if _active(user) else qs.none()


def reevaluation_get(*, user: Reader, pk: object) -> ReevaluationRequest:
    try:
        return reevaluation_list(user=user).get(pk=as_uuid(pk))
    except ReevaluationRequest.DoesNotExist:
        raise NotFound("Re-evaluation request not found.") from None


def console_figures(*, cap: int = DEFAULT_CAP) -> dict[str, CappedCount]:
    """The operations dashboard's v3 figures: records per review status and re-evaluation
    requests waiting for a decision (pending) or a result (approved). One statement;
    each count stops at `cap`."""
    return capped_counts(
        {
            "quarantined": QuarantineRecord.objects.filter(review_status=RecordStatus.QUARANTINED),
            "under_review": QuarantineRecord.objects.filter(review_status=RecordStatus.UNDER_REVIEW),
            "approved_retry": QuarantineRecord.objects.filter(review_status=RecordStatus.APPROVED_RETRY),
            "reevaluations_pending": ReevaluationRequest.objects.filter(status=RequestStatus.PENDING),
            "reevaluations_approved": ReevaluationRequest.objects.filter(status=RequestStatus.APPROVED),
        },
        cap=cap,
    )
