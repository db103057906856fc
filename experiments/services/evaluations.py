"""Evaluations: metrics submitted and judged by experiments.rules against the project's
baselines (a failing verdict quarantines), and an administrator's override.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.services import audit_record
from core.exceptions import Conflict, InvalidTransition, ValidationFailed
from experiments import rules
from experiments.models import EvaluatedBy, Evaluation, Experiment, HumanVerdict, Status, Verdict
from experiments.selectors import latest_evaluation, open_promotion
from experiments.services.lifecycle import (
    cleaned_text,
    experiment_lock,
    experiment_move_locked,
    require_admin,
    require_person,
)
from experiments.services.quarantining import experiment_quarantine_locked
from projects.selectors import active_baselines, project_for_write


def evaluation_min_confidence() -> Decimal:
    return Decimal(str(settings.EVALUATION_MIN_CONFIDENCE))


def _metrics_payload(metrics: dict) -> list[dict]:
    # Metric names go in values, not keys: the audit log refuses secret-like keys
    # ("token_count" holds the word token), and names are data here, not structure.
    return [{"metric": k, "value": metrics[k]} for k in sorted(metrics)]


@transaction.atomic
def evaluation_submit(*, experiment: Experiment, metrics: dict, ai_confidence, actor) -> Evaluation:
    """Record metrics and compute the AI verdict against the project's active baselines
    (experiments.rules.compute_verdict). A `completed` experiment moves to `evaluating`;
    an `evaluating` one gets a new latest evaluation (unless a promotion is open). A
    `fail` verdict quarantines the experiment in the same transaction."""

    metrics = rules.validate_metrics(metrics)
    confidence = rules.validate_confidence(ai_confidence)
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = experiment_lock(experiment.pk)
    if locked.status == Status.COMPLETED:
        experiment_move_locked(locked, Status.EVALUATING, actor, reason="metrics submitted")
    elif locked.status == Status.EVALUATING:
        promotion = open_promotion(experiment_id=locked.pk)
        if promotion is not None:
            raise Conflict(
                "A promotion of this experiment is open; reject it before submitting new metrics.",
                details={"promotion": str(promotion.pk)},
            )
    else:
        raise InvalidTransition(frm=locked.status, to=Status.EVALUATING, entity="experiment")
    result = rules.compute_verdict(
        baselines=active_baselines(project_id=locked.project_id),
        metrics=metrics,
        confidence=confidence,
        min_confidence=evaluation_min_confidence(),
    )
    now = timezone.now()
    evaluation = Evaluation.objects.create(
        experiment=locked,
        metrics=metrics,
        ai_verdict=result.verdict,
        ai_confidence=rules.quantize4(confidence),
        checks=result.checks,
        effective_verdict=result.verdict,
        evaluated_by=EvaluatedBy.AI,
        evaluator=actor,
        evaluated_at=now,
    )
    audit_record(
        entity="evaluation",
        action="create",
        actor=actor,
        payload={
            "id": str(evaluation.pk),
            "experiment": str(locked.pk),
            "metrics": _metrics_payload(metrics),
            "ai_confidence": str(evaluation.ai_confidence),
            "ai_verdict": result.verdict,
            "rule": result.rule,
            "effective_verdict": result.verdict,
        },
    )
    if result.verdict == Verdict.FAIL:
        experiment_quarantine_locked(
            locked,
            actor=actor,
            reason=f"Automatic: AI verdict 'fail' ({_violations(result.checks)}).",
            evidence={"evaluation": str(evaluation.pk), "checks": result.checks},
            failure_metrics=metrics,
            automatic=True,
        )
    return evaluation


def _violations(checks: dict) -> str:
    bad = [
        f"{c['metric_key']} {c['operator']} {c['threshold']}"
        for c in checks.get("baselines", [])
        if c["outcome"] == "violated"
    ]
    return "violated: " + ", ".join(bad) if bad else "baselines violated"


@transaction.atomic
def evaluation_override(*, evaluation: Evaluation, verdict: str, reason: str, actor) -> Evaluation:
    """An administrator overrides the AI verdict of an experiment's latest evaluation,
    with a reason, while the experiment is `evaluating` and no promotion is open. The
    effective verdict becomes the override; a `fail` quarantines the experiment in the
    same transaction."""
    require_person(actor, "A human override")
    require_admin(actor, "override a verdict")
    if verdict not in HumanVerdict.values:
        raise ValidationFailed.field("verdict", "One of: pass, fail.")
    reason = cleaned_text(reason, "reason", required=True, max_length=5000)
    project_for_write(project_id=evaluation.experiment.project_id, actor=actor)
    locked_exp = experiment_lock(evaluation.experiment_id)
    if locked_exp.status != Status.EVALUATING:
        raise Conflict(
            f"The experiment is '{locked_exp.status}': verdicts are overridden only while it is evaluating.",
            details={"status": locked_exp.status},
        )
    latest = latest_evaluation(experiment_id=locked_exp.pk)
    if latest is None or latest.pk != evaluation.pk:
        raise Conflict(
            "Only the experiment's latest evaluation can be overridden.",
            details={"latest": str(latest.pk) if latest is not None else None},
        )
    promotion = open_promotion(experiment_id=locked_exp.pk)
    if promotion is not None:
        raise Conflict("A promotion of this experiment is open.", details={"promotion": str(promotion.pk)})
    ev = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
    before = {"human_override": ev.human_override, "effective_verdict": ev.effective_verdict}
    ev.human_override = verdict
    ev.override_reason = reason
    ev.effective_verdict = verdict
    ev.evaluated_by = EvaluatedBy.HUMAN
    ev.evaluator = actor
    ev.evaluated_at = timezone.now()
    ev.save(
        update_fields=[
            "human_override",
            "override_reason",
            "effective_verdict",
            "evaluated_by",
            "evaluator",
            "evaluated_at",
        ]
    )
    audit_record(
        entity="evaluation",
        action="override",
        actor=actor,
        payload={
            "id": str(ev.pk),
            "experiment": str(locked_exp.pk),
            "ai_verdict": ev.ai_verdict,
            "before": before,
            "after": {"human_override": verdict, "effective_verdict": verdict},
            "reason": reason,
        },
    )
    if verdict == HumanVerdict.FAIL:
        experiment_quarantine_locked(
            locked_exp,
            actor=actor,
            reason=f"Human verdict 'fail': {reason}",
            evidence={"evaluation": str(ev.pk), "override_reason": reason, "checks": ev.checks},
            failure_metrics=ev.metrics,
            automatic=True,
        )
    return ev
