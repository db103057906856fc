"""Promotions v1 → v2 under four eyes: request, approve, reject, complete."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audits.services import audit_record
from core.exceptions import Conflict, InvalidTransition, PermissionDenied
from experiments.models import OPEN_PROMOTION, Experiment, Promotion, PromotionStatus, Status, Verdict
from experiments.selectors import latest_evaluation, open_promotion
from experiments.services.lifecycle import (
    cleaned_text,
    experiment_lock,
    experiment_move_locked,
    require_admin,
    require_person,
)
from projects.models import HistoryAction, Tag, Version
from projects.selectors import project_for_write
from projects.services import version_apply_config


def _lock_promotion(promotion_id) -> Promotion:
    return (
        Promotion.objects.select_for_update(of=("self",))
        .select_related("to_version", "from_version")
        .get(pk=promotion_id)
    )


def _promotion_payload(p: Promotion, **extra) -> dict:
    return {"id": str(p.pk), "experiment": str(p.experiment_id), "status": p.status, **extra}


def _four_eyes(promotion: Promotion, actor, what: str) -> None:
    require_person(actor, what)
    require_admin(actor, what)
    if promotion.requested_by_id == actor.pk:
        raise PermissionDenied(
            "Four-eyes rule: an administrator other than the requester must decide this promotion.",
            details={"requested_by": str(promotion.requested_by_id)},
        )


@transaction.atomic
def promotion_request(*, experiment: Experiment, actor, reason: str = "") -> Promotion:
    """Propose an experiment for promotion to v2. Only an `evaluating` experiment whose
    latest evaluation's effective verdict is `pass`, with no other open promotion."""
    require_person(actor, "A promotion request")
    reason = cleaned_text(reason, "reason", max_length=5000)
    project = project_for_write(project_id=experiment.project_id, actor=actor)
    locked = experiment_lock(experiment.pk)
    if locked.status != Status.EVALUATING:
        raise InvalidTransition(frm=locked.status, to=Status.PROMOTED, entity="experiment")
    latest = latest_evaluation(experiment_id=locked.pk)
    verdict = latest.effective_verdict if latest else None
    if latest is None or verdict != Verdict.PASS:
        raise Conflict(
            "Only an experiment whose effective verdict is 'pass' may be proposed for promotion.",
            details={"verdict": verdict},
        )
    existing = open_promotion(experiment_id=locked.pk)
    if existing is not None:
        raise Conflict("This experiment already has an open promotion.", details={"promotion": str(existing.pk)})
    versions = {v.tag: v for v in Version.objects.filter(project_id=project.pk, tag__in=[Tag.V1, Tag.V2])}
    promotion = Promotion.objects.create(
        experiment=locked,
        from_version=versions[Tag.V1],
        to_version=versions[Tag.V2],
        reason=reason,
        requested_by=actor,
    )
    audit_record(
        entity="promotion",
        action="request",
        actor=actor,
        payload=_promotion_payload(promotion, evaluation=str(latest.pk), reason=reason, config_hash=locked.config_hash),
    )
    return promotion


@transaction.atomic
def promotion_approve(*, promotion: Promotion, actor, reason: str = "") -> Promotion:
    """An administrator other than the requester approves (four-eyes, for admins too)."""
    _four_eyes(promotion, actor, "approve a promotion")
    reason = cleaned_text(reason, "reason", max_length=5000)
    project_for_write(project_id=promotion.to_version.project_id, actor=actor)
    locked = _lock_promotion(promotion.pk)
    if locked.status != PromotionStatus.PENDING:
        raise InvalidTransition(frm=locked.status, to=PromotionStatus.APPROVED, entity="promotion")
    locked.status = PromotionStatus.APPROVED
    locked.approver = actor
    locked.decided_at = timezone.now()
    locked.decision_reason = reason
    locked.save(update_fields=["status", "approver", "decided_at", "decision_reason", "updated_at"])
    audit_record(
        entity="promotion",
        action="approve",
        actor=actor,
        payload=_promotion_payload(locked, before={"status": PromotionStatus.PENDING}, reason=reason),
    )
    return locked


@transaction.atomic
def promotion_reject(*, promotion: Promotion, actor, reason: str = "") -> Promotion:
    """An administrator other than the requester rejects a pending or approved request.
    The experiment stays `evaluating` and may be proposed again."""
    _four_eyes(promotion, actor, "reject a promotion")
    reason = cleaned_text(reason, "reason", max_length=5000)
    project_for_write(project_id=promotion.to_version.project_id, actor=actor)
    locked = _lock_promotion(promotion.pk)
    if locked.status not in OPEN_PROMOTION:
        raise InvalidTransition(frm=locked.status, to=PromotionStatus.REJECTED, entity="promotion")
    before = locked.status
    locked.status = PromotionStatus.REJECTED
    locked.approver = actor
    locked.decided_at = timezone.now()
    locked.decision_reason = reason
    locked.save(update_fields=["status", "approver", "decided_at", "decision_reason", "updated_at"])
    audit_record(
        entity="promotion",
        action="reject",
        actor=actor,
        payload=_promotion_payload(locked, before={"status": before}, reason=reason),
    )
    return locked


@transaction.atomic
def promotion_complete(*, promotion: Promotion, actor) -> Promotion:
    """Carry out an approved promotion, in one transaction: the experiment's config
    becomes v2's model_config (promoted_at/by stamped, a version_history 'promoted' row
    written), the promotion is completed and the experiment moves to `promoted`."""
    _four_eyes(promotion, actor, "complete a promotion")
    project_for_write(project_id=promotion.to_version.project_id, actor=actor)
    experiment = experiment_lock(promotion.experiment_id)
    locked = _lock_promotion(promotion.pk)
    if locked.status != PromotionStatus.APPROVED:
        raise InvalidTransition(frm=locked.status, to=PromotionStatus.COMPLETED, entity="promotion")
    if experiment.status != Status.EVALUATING:
        raise InvalidTransition(frm=experiment.status, to=Status.PROMOTED, entity="experiment")
    version = version_apply_config(
        version=locked.to_version,
        model_config=experiment.config,
        model_config_text=experiment.config_text,  # the order its author wrote it in
        actor=actor,
        action=HistoryAction.PROMOTED,
        reason=locked.reason or f"Promotion of experiment {experiment.name}",
        from_tag=Tag.V1,
        to_tag=Tag.V2,
        promoted=True,
    )
    locked.status = PromotionStatus.COMPLETED
    locked.promoted_at = version.promoted_at
    locked.completed_by = actor
    locked.save(update_fields=["status", "promoted_at", "completed_by", "updated_at"])
    audit_record(
        entity="promotion",
        action="complete",
        actor=actor,
        payload=_promotion_payload(
            locked,
            before={"status": PromotionStatus.APPROVED},
            version=str(version.pk),
            config_hash=experiment.config_hash,
        ),
    )
    experiment_move_locked(experiment, Status.PROMOTED, actor, promotion=str(locked.pk))
    return locked
