"""Quarantine records: one per config hash, created when an experiment is quarantined
(record_quarantine, called inside experiments.services' transaction), and the review
columns' helpers the re-evaluation workflow shares.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from accounts.models import User
from audits.services import audit_record
from core import canonical
from core.exceptions import PermissionDenied
from core.validation import clean_text
from experiments.models import Experiment
from quarantine.models import QuarantineRecord, RecordStatus, ReevaluationRequest


def cleaned_text(value: Any, field: str, *, required: bool = False, max_length: int = 5000) -> str:
    return clean_text(value, field, required=required, max_length=max_length)


def require_admin(actor: User | None, what: str) -> None:
    if actor is None or not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


def append_note(existing: str, note: str) -> str:
    return f"{existing}\n{note}".strip() if existing else note


def record_lock(record_id: UUID | str) -> QuarantineRecord:
    return QuarantineRecord.objects.select_for_update(of=("self",)).select_related("experiment").get(pk=record_id)


def request_lock(request_id: UUID | str) -> ReevaluationRequest:
    return ReevaluationRequest.objects.select_for_update().get(pk=request_id)


def record_status_set(record: QuarantineRecord, to: str, actor: User | None, **extra: Any) -> None:
    before = record.review_status
    record.review_status = to
    audit_record(
        entity="quarantine_record",
        action="review",
        actor=actor,
        payload={"id": str(record.pk), "config_hash": record.config_hash, "before": before, "after": to, **extra},
    )


def record_quarantine(
    *, experiment: Experiment, reason: str, evidence: dict, failure_metrics: dict, actor: User | None, now: datetime
) -> tuple[QuarantineRecord, bool]:
    """Archive a failed experiment's config. Called by experiments.services inside its
    quarantine transaction, holding the experiment row and the config-hash lock.

    One record per config hash: if this config was quarantined before (another
    experiment with the same config), the existing record is kept as it is (content is
    immutable), a note is added, and a record approved for retry returns to
    `quarantined`. Returns (record, created)."""
    existing = QuarantineRecord.objects.select_for_update().filter(config_hash=experiment.config_hash).first()
    if existing is None:
        record = QuarantineRecord.objects.create(
            experiment=experiment,
            config_hash=experiment.config_hash,
            config=experiment.config,
            config_text=experiment.config_text,
            reason=reason,
            evidence=evidence,
            failure_metrics=failure_metrics,
            quarantined_at=now,
            quarantined_by=actor,
        )
        audit_record(
            entity="quarantine_record",
            action="create",
            actor=actor,
            payload={
                "id": str(record.pk),
                "experiment": str(experiment.pk),
                "config_hash": record.config_hash,
                "reason": reason,
                "evidence_sha256": canonical.sha256_hex(evidence),
                "failure_metrics_sha256": canonical.sha256_hex(failure_metrics),
                "review_status": record.review_status,
            },
        )
        return record, True
    note = f"{now:%Y-%m-%d %H:%M} UTC: experiment {experiment.pk} with this configuration failed again: {reason}"
    existing.review_notes = append_note(existing.review_notes, note)
    fields = ["review_notes", "updated_at"]
    if existing.review_status == RecordStatus.APPROVED_RETRY:
        record_status_set(existing, RecordStatus.QUARANTINED, actor, experiment=str(experiment.pk), requarantined=True)
        fields.append("review_status")
    existing.save(update_fields=fields)
    return existing, False
