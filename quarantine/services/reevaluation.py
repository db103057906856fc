"""Re-evaluation requests of a quarantined configuration: request, approve, reject,
complete with a result; each moves the record's review status and the blacklist row.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from experiments.rules import validate_metrics
from projects.models import Project
from projects.selectors import check_can_write, project_for_write
from quarantine.models import OPEN_REQUEST, QuarantineRecord, RecordStatus, ReevaluationRequest, RequestStatus
from quarantine.services.blacklist import blacklist_for_reevaluation, hash_lock
from quarantine.services.records import (
    append_note,
    cleaned_text,
    record_lock,
    record_status_set,
    request_lock,
    require_admin,
)

RESULT_VERDICTS = ("pass", "fail")


def _check_requester(record: QuarantineRecord, actor: User | None) -> User:
    """The person asking (there must be one), once they may ask."""
    if actor is None:
        raise PermissionDenied("A re-evaluation request needs a person to ask for it.")
    check_can_write(actor)
    if not actor.is_admin_role:
        owner_id = Project.objects.filter(pk=record.experiment.project_id).values_list("owner_id", flat=True).first()
        if owner_id != actor.pk:
            raise PermissionDenied("Only the project's owner or an administrator may request a re-evaluation.")
    return actor


@transaction.atomic
def reevaluation_request(*, record: QuarantineRecord, reason: str, actor: User | None) -> ReevaluationRequest:
    """The project's owner (or an admin) asks for a quarantined config to be looked at
    again. One open request per record; the blacklist row becomes `appealed`."""
    requester = _check_requester(record, actor)
    reason = cleaned_text(reason, "reason", required=True)
    project_for_write(project_id=record.experiment.project_id, actor=actor)
    hash_lock(record.config_hash)
    locked = record_lock(record.pk)
    if locked.review_status != RecordStatus.QUARANTINED:
        raise Conflict(
            f"The record is '{locked.review_status}': only a quarantined record can be re-evaluated.",
            details={"review_status": locked.review_status},
        )
    existing = ReevaluationRequest.objects.filter(quarantine_record=locked, status__in=OPEN_REQUEST).first()
    if existing is not None:
        raise Conflict("A re-evaluation of this record is already open.", details={"request": str(existing.pk)})
    request = ReevaluationRequest.objects.create(quarantine_record=locked, requested_by=requester, reason=reason)
    audit_record(
        entity="reevaluation",
        action="request",
        actor=actor,
        payload={"id": str(request.pk), "record": str(locked.pk), "status": request.status, "reason": reason},
    )
    blacklist_for_reevaluation(config_hash=locked.config_hash, actor=actor, event="appealed")
    return request


@transaction.atomic
def reevaluation_approve(*, request: ReevaluationRequest, actor: User, notes: str = "") -> ReevaluationRequest:
    """An administrator other than the requester approves: the record goes `under_review`."""
    require_admin(actor, "approve a re-evaluation")
    if request.requested_by_id == actor.pk:
        raise PermissionDenied(
            "Four-eyes rule: an administrator other than the requester approves a re-evaluation.",
            details={"requested_by": str(request.requested_by_id)},
        )
    notes = cleaned_text(notes, "notes")
    record = request.quarantine_record
    project_for_write(project_id=record.experiment.project_id, actor=actor)
    locked_record = record_lock(record.pk)
    locked = request_lock(request.pk)
    if locked.status != RequestStatus.PENDING:
        raise InvalidTransition(frm=locked.status, to=RequestStatus.APPROVED, entity="re-evaluation request")
    if locked_record.review_status != RecordStatus.QUARANTINED:
        raise InvalidTransition(
            frm=locked_record.review_status, to=RecordStatus.UNDER_REVIEW, entity="quarantine record"
        )
    now = timezone.now()
    locked.status = RequestStatus.APPROVED
    locked.approved_by = actor
    locked.approved_at = now
    locked.decision_notes = notes
    locked.save(update_fields=["status", "approved_by", "approved_at", "decision_notes", "updated_at"])
    audit_record(
        entity="reevaluation",
        action="approve",
        actor=actor,
        payload={"id": str(locked.pk), "record": str(locked_record.pk), "before": "pending", "after": locked.status},
    )
    record_status_set(locked_record, RecordStatus.UNDER_REVIEW, actor, request=str(locked.pk))
    locked_record.save(update_fields=["review_status", "updated_at"])
    return locked


@transaction.atomic
def reevaluation_reject(*, request: ReevaluationRequest, actor: User, notes: str = "") -> ReevaluationRequest:
    """An administrator rejects a pending request: the record stays `quarantined`."""
    require_admin(actor, "reject a re-evaluation")
    notes = cleaned_text(notes, "notes")
    record = request.quarantine_record
    project_for_write(project_id=record.experiment.project_id, actor=actor)
    hash_lock(record.config_hash)
    locked_record = record_lock(record.pk)
    locked = request_lock(request.pk)
    if locked.status != RequestStatus.PENDING:
        raise InvalidTransition(frm=locked.status, to=RequestStatus.REJECTED, entity="re-evaluation request")
    locked.status = RequestStatus.REJECTED
    locked.rejected_by = actor
    locked.rejected_at = timezone.now()
    locked.decision_notes = notes
    locked.save(update_fields=["status", "rejected_by", "rejected_at", "decision_notes", "updated_at"])
    audit_record(
        entity="reevaluation",
        action="reject",
        actor=actor,
        payload={"id": str(locked.pk), "record": str(locked_record.pk), "before": "pending", "after": locked.status},
    )
    blacklist_for_reevaluation(config_hash=locked_record.config_hash, actor=actor, event="reviewed")
    return locked


def validate_result(result: Any) -> dict:
    """{"verdict": "pass" | "fail", ...}: any further keys (metrics, notes) are kept."""
    if not isinstance(result, dict):
        raise ValidationFailed.field("result", 'A JSON object such as {"verdict": "pass", "metrics": {...}}.')
    if result.get("verdict") not in RESULT_VERDICTS:
        raise ValidationFailed("The result needs a verdict.", details={"result": {"verdict": ["One of: pass, fail."]}})
    try:
        canonical.dumps(result)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed.field("result", f"Not storable JSON: {exc}") from None
    if "metrics" in result:
        validate_metrics(result["metrics"], "result.metrics")
    if "notes" in result and not isinstance(result["notes"], str):
        raise ValidationFailed("Notes are text.", details={"result": {"notes": ["Must be text."]}})
    return result


@transaction.atomic
def reevaluation_complete(*, request: ReevaluationRequest, result: dict, actor: User | None) -> ReevaluationRequest:
    """An administrator records the outcome of an approved re-evaluation, in one
    transaction. pass: the record becomes `approved_retry` and the blacklist row is
    lifted, so the same config may run again as a new experiment. fail: the record
    returns to `quarantined` (the blacklist stays)."""
    require_admin(actor, "complete a re-evaluation")
    result = validate_result(result)
    record = request.quarantine_record
    project_for_write(project_id=record.experiment.project_id, actor=actor)
    hash_lock(record.config_hash)
    locked_record = record_lock(record.pk)
    locked = request_lock(request.pk)
    if locked.status != RequestStatus.APPROVED:
        raise InvalidTransition(frm=locked.status, to=RequestStatus.COMPLETED, entity="re-evaluation request")
    if locked_record.review_status != RecordStatus.UNDER_REVIEW:
        raise InvalidTransition(frm=locked_record.review_status, to="reviewed", entity="quarantine record")
    now = timezone.now()
    verdict = result["verdict"]
    locked.status = RequestStatus.COMPLETED
    locked.completed_at = now
    locked.completed_by = actor
    locked.result = result
    locked.save(update_fields=["status", "completed_at", "completed_by", "result", "updated_at"])
    audit_record(
        entity="reevaluation",
        action="complete",
        actor=actor,
        payload={
            "id": str(locked.pk),
            "record": str(locked_record.pk),
            "before": "approved",
            "after": locked.status,
            "verdict": verdict,
            "result_sha256": canonical.sha256_hex(result),
        },
    )
    to = RecordStatus.APPROVED_RETRY if verdict == "pass" else RecordStatus.QUARANTINED
    record_status_set(locked_record, to, actor, request=str(locked.pk), verdict=verdict)
    locked_record.reviewed_by = actor
    locked_record.reviewed_at = now
    note = f"{now:%Y-%m-%d %H:%M} UTC: re-evaluation {locked.pk} {verdict}ed"
    if isinstance(result.get("notes"), str) and result["notes"].strip():
        note += f": {result['notes'].strip()}"
    locked_record.review_notes = append_note(locked_record.review_notes, note)
    locked_record.save(update_fields=["review_status", "reviewed_by", "reviewed_at", "review_notes", "updated_at"])
    blacklist_for_reevaluation(
        config_hash=locked_record.config_hash, actor=actor, event="lifted" if verdict == "pass" else "reviewed"
    )
    return locked
