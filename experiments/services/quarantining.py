"""Quarantine, the experiment side: the experiment moves to `quarantined`, its config is
blacklisted and archived into v3; the record itself belongs to quarantine.services.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audits.services import audit_record
from core.exceptions import Conflict, InvalidTransition
from experiments.models import ALLOWED_MOVES, Experiment, Status
from experiments.selectors import latest_evaluation, open_promotion
from experiments.services.lifecycle import (
    cleaned_text,
    experiment_lock,
    experiment_move_locked,
    json_sha,
    require_admin,
    validate_config,
)
from projects.models import HistoryAction, Tag, Version
from projects.selectors import project_for_write
from projects.services import version_apply_config
from quarantine.services import record_quarantine
from quarantine.services.blacklist import blacklist_upsert, hash_lock


def experiment_quarantine_locked(
    experiment: Experiment,
    *,
    actor,
    reason: str,
    evidence: dict,
    failure_metrics: dict,
    automatic: bool,
):
    """Quarantine an experiment whose row the caller holds locked: experiment →
    `quarantined`, quarantine record (or, for a config quarantined before and approved
    for retry, its record back to `quarantined`), blacklist row, and the config archived
    into the project's v3 version (version_history 'degraded', v1 → v3)."""

    if Status.QUARANTINED not in ALLOWED_MOVES[experiment.status]:
        raise InvalidTransition(frm=experiment.status, to=Status.QUARANTINED, entity="experiment")
    promotion = open_promotion(experiment_id=experiment.pk)
    if promotion is not None:
        raise Conflict(
            "A promotion of this experiment is open; reject it first.", details={"promotion": str(promotion.pk)}
        )
    hash_lock(experiment.config_hash)
    now = timezone.now()
    entry, _ = blacklist_upsert(
        config_hash=experiment.config_hash,
        reason=reason,
        evidence={**evidence, "experiment": str(experiment.pk)},
        actor=actor,
        now=now,
    )
    record, created = record_quarantine(
        experiment=experiment,
        reason=reason,
        evidence=evidence,
        failure_metrics=failure_metrics,
        actor=actor,
        now=now,
    )
    frm = experiment.status
    experiment_move_locked(experiment, Status.QUARANTINED, actor, record=str(record.pk), automatic=automatic)
    v3 = Version.objects.get(project_id=experiment.project_id, tag=Tag.V3)
    version_apply_config(
        version=v3,
        model_config=experiment.config,
        model_config_text=experiment.config_text,  # the order its author wrote it in
        actor=actor,
        action=HistoryAction.DEGRADED,
        reason=reason,
        from_tag=Tag.V1,
        to_tag=Tag.V3,
    )
    audit_record(
        entity="experiment",
        action="quarantine",
        actor=actor,
        payload={
            "id": str(experiment.pk),
            "project": str(experiment.project_id),
            "from": frm,
            "to": Status.QUARANTINED,
            "record": str(record.pk),
            "record_created": created,
            "blacklist": str(entry.pk),
            "config_hash": experiment.config_hash,
            "automatic": automatic,
            "reason": reason,
            "evidence_sha256": json_sha(evidence),
        },
    )
    return record


@transaction.atomic
def experiment_quarantine(*, experiment: Experiment, actor, reason: str, evidence: dict | None = None):
    """An administrator quarantines a `failed` or `evaluating` experiment (SPEC §4):
    experiment, quarantine record and blacklist row change in one transaction."""
    require_admin(actor, "quarantine an experiment")
    reason = cleaned_text(reason, "reason", required=True, max_length=5000)
    evidence = validate_config(evidence if evidence is not None else {}, "evidence")
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = experiment_lock(experiment.pk)
    latest = latest_evaluation(experiment_id=locked.pk)
    return experiment_quarantine_locked(
        locked,
        actor=actor,
        reason=reason,
        evidence=evidence,
        failure_metrics=latest.metrics if latest else {},
        automatic=False,
    )
