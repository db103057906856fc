"""Reads of the v3 zone. Quarantine records and their re-evaluation requests are
readable by every active user, whatever the role (docs/zones.md)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.exceptions import NotFound
from projects.selectors import as_uuid
from quarantine.models import QuarantineRecord, ReevaluationRequest


def _active(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def record_list(*, user) -> QuerySet[QuarantineRecord]:
    qs = QuarantineRecord.objects.select_related("experiment")
    return qs if _active(user) else qs.none()


def record_get(*, user, pk) -> QuarantineRecord:
    try:
        return record_list(user=user).get(pk=as_uuid(pk))
    except QuarantineRecord.DoesNotExist:
        raise NotFound("Quarantine record not found.") from None


def reevaluation_list(*, user, record: QuarantineRecord | None = None) -> QuerySet[ReevaluationRequest]:
    qs = ReevaluationRequest.objects.select_related("quarantine_record__experiment")
    if record is not None:
        qs = qs.filter(quarantine_record=record)
    return qs if _active(user) else qs.none()


def reevaluation_get(*, user, pk) -> ReevaluationRequest:
    try:
        return reevaluation_list(user=user).get(pk=as_uuid(pk))
    except ReevaluationRequest.DoesNotExist:
        raise NotFound("Re-evaluation request not found.") from None
