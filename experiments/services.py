"""Writes of the v1 zone: atomic, validated and audited in the same transaction.

Locking, always in this order so concurrent workflows cannot deadlock:
    project (FOR SHARE, projects.selectors.project_for_write: refuses archived projects)
    → experiment (FOR UPDATE, or a conditional UPDATE ... WHERE status = ...)
    → config-hash advisory lock (quarantine, blacklist and re-evaluation changes)
    → promotion / evaluation / blacklist / quarantine record rows → version row.

Creating an experiment takes the config-hash advisory lock in shared mode before it
reads the blacklist; blacklisting takes it exclusively. So an experiment is never
created with a config blacklisted by a transaction that committed before it looked.

Audit payloads carry ids, statuses, hashes and verdicts, never whole user JSON (configs
or evidence may hold keys the audit log refuses, such as "api_key"): see projects.services.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audits.services import audit_record
from core import canonical
from core.exceptions import (
    ConfigBlacklisted,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from core.ids import uuid7
from core.validation import clean_text
from experiments import rules
from experiments.models import (
    ALLOWED_MOVES,
    OPEN_PROMOTION,
    Blacklist,
    ComparisonReport,
    EvaluatedBy,
    Evaluation,
    Experiment,
    HumanVerdict,
    Promotion,
    PromotionStatus,
    ReviewStatus,
    Status,
    Verdict,
)
from experiments.selectors import latest_evaluation, open_promotion
from projects.models import HistoryAction, Project, Tag, Version
from projects.selectors import check_can_write, project_for_write, project_for_write_then
from projects.services import version_apply_config

UNSET: Any = object()

# Re-exported for callers (production, the legacy importer): one place for the rules.
config_hash = rules.config_hash
validate_config = rules.validate_config
compute_verdict = rules.compute_verdict

# Namespace of the config-hash advisory locks (two-key form: no clash with the
# single-bigint keys of the audit log).
HASH_LOCK_NAMESPACE = 7301101

WORKFLOW_TARGETS = {
    Status.PROMOTED: "POST /api/v1/promotions/ (then approve and complete)",
    Status.QUARANTINED: "POST /api/v1/experiments/{id}/quarantine",
}


def _json_sha(value) -> str:
    return canonical.sha256_hex(value)


def _require_admin(actor, what: str) -> None:
    if actor is not None and not actor.is_admin_role:
        raise PermissionDenied(f"Only administrators may {what}.")


def _require_person(actor, what: str) -> None:
    if actor is None:
        raise PermissionDenied(f"{what} needs a person to act.")


def _text(value, field: str, *, required: bool = False, max_length: int = 10_000) -> str:
    return clean_text(value, field, required=required, max_length=max_length)


def _hash_key(config_hash: str) -> int:
    return int(config_hash[:8], 16) - 2**31


def hash_lock(config_hash: str) -> None:
    """Transaction-scoped exclusive advisory lock on one config hash (see the module
    docstring); creation takes it shared, in _hash_lock_then_blacklist."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [HASH_LOCK_NAMESPACE, _hash_key(config_hash)])


def _hash_lock_then_blacklist(config_hash: str) -> list[tuple[str, list]]:
    """The shared config-hash lock, then whether the hash is blacklisted (a row not
    lifted), as statements for one message (core.db.prepared.execute_together). The
    blacklist must be read after the lock is granted, in a statement of its own, so that
    its snapshot includes any blacklisting that held the lock. PostgreSQL runs each statement
    of a message with its own snapshot (READ COMMITTED), taken when that statement
    starts, so the blacklist is still read after the lock was granted, exactly as when
    the two are sent apart (test_races: creation waits for a blacklisting in flight, then
    sees it; it fails when the two are made one statement)."""
    return [
        ("SELECT pg_advisory_xact_lock_shared(%s, %s)", [HASH_LOCK_NAMESPACE, _hash_key(config_hash)]),
        ("SELECT EXISTS (SELECT 1 FROM blacklist WHERE config_hash = %s AND lifted_at IS NULL)", [config_hash]),
    ]


def _lock_experiment(experiment_id) -> Experiment:
    try:
        return Experiment.objects.select_for_update(of=("self",)).get(pk=experiment_id)
    except Experiment.DoesNotExist:
        raise NotFound("Experiment not found.") from None


def _transition_fields(to: str, now) -> dict:
    fields = {"status": to, "updated_at": now}
    if to == Status.RUNNING:
        fields["started_at"] = now
    elif to in (Status.COMPLETED, Status.FAILED):
        fields["completed_at"] = now
    return fields


def _transition_payload(experiment: Experiment, frm: str, to: str, **extra) -> dict:
    return {"id": str(experiment.pk), "project": str(experiment.project_id), "from": frm, "to": to, **extra}


def _record_transition(experiment: Experiment, frm: str, to: str, actor, **extra) -> None:
    audit_record(
        entity="experiment", action="transition", actor=actor, payload=_transition_payload(experiment, frm, to, **extra)
    )


def _move_locked(experiment: Experiment, to: str, actor, **extra) -> Experiment:
    """Move an experiment whose row the caller holds locked (FOR UPDATE)."""
    frm = experiment.status
    if to not in ALLOWED_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=to, entity="experiment")
    fields = _transition_fields(to, timezone.now())
    for name, value in fields.items():
        setattr(experiment, name, value)
    experiment.save(update_fields=list(fields))
    _record_transition(experiment, frm, to, actor, **extra)
    return experiment


# ---------------------------------------------------------------------------------------
# Experiments


@transaction.atomic
def experiment_create(
    *,
    project: Project | uuid.UUID | str,
    name: str,
    config: dict,
    actor,
    description: str = "",
    dataset_id: str = "",
    created_by=None,
) -> Experiment:
    """Create an experiment in the project's v1 zone (`project`: a Project or its id).
    409 config_blacklisted when its config hash is blacklisted; 409 project_archived on
    an archived project; NotFound when `actor` may not see the project."""
    check_can_write(actor)
    creator = created_by or actor
    if creator is None:
        raise ValidationFailed.field("created_by", "An experiment needs its creator.")
    name = _text(name, "name", required=True, max_length=200)
    description = _text(description, "description", max_length=100_000)
    dataset_id = _text(dataset_id, "dataset_id", max_length=200)
    digest = config_hash(config)
    # One round trip: the project's share lock, then the config-hash lock and the
    # blacklist read (_hash_lock_then_blacklist), each statement with its own snapshot.
    project, (_, blacklisted) = project_for_write_then(
        project_id=getattr(project, "pk", project), actor=actor, statements=_hash_lock_then_blacklist(digest)
    )
    if blacklisted.rows[0][0]:
        raise ConfigBlacklisted(details={"config_hash": digest})
    experiment = Experiment(
        project=project,
        name=name,
        description=description,
        config=config,
        config_hash=digest,
        dataset_id=dataset_id,
        created_by=creator,
    )
    experiment.save(force_insert=True)
    audit_record(
        entity="experiment",
        action="create",
        actor=actor,
        payload={
            "id": str(experiment.pk),
            "project": str(project.pk),
            "name": name,
            "config_hash": digest,
            "dataset_id": dataset_id,
            "status": experiment.status,
        },
    )
    return experiment


@transaction.atomic
def experiment_update(
    *, experiment: Experiment, actor, name: str = UNSET, description: str = UNSET, dataset_id: str = UNSET
) -> Experiment:
    """Edit an experiment's descriptive fields. Its config is immutable (it is what the
    hash, the verdicts and the blacklist refer to): a new config is a new experiment."""
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = _lock_experiment(experiment.pk)
    before, after = {}, {}
    for field, value, limit, required in (
        ("name", name, 200, True),
        ("description", description, 100_000, False),
        ("dataset_id", dataset_id, 200, False),
    ):
        if value is UNSET:
            continue
        value = _text(value, field, required=required, max_length=limit)
        if value != getattr(locked, field):
            before[field], after[field] = getattr(locked, field), value
            setattr(locked, field, value)
    if after:
        locked.save(update_fields=[*after, "updated_at"])
        audit_record(
            entity="experiment",
            action="update",
            actor=actor,
            payload={"id": str(locked.pk), "before": before, "after": after},
        )
    return locked


@transaction.atomic
def experiment_transition(*, experiment: Experiment, to: str, actor, reason: str = "") -> Experiment:
    """Move an experiment along the status machine (SPEC §4). One conditional UPDATE ...
    WHERE status = <the status read>: of two concurrent moves exactly one wins, the other
    gets 409 invalid_transition. `promoted` and `quarantined` are reached only through
    their workflows (promotion, quarantine), which create the records they need."""
    if to not in Status.values:
        raise ValidationFailed.field("to", f"Unknown status '{to}'.")
    if to in WORKFLOW_TARGETS:
        raise ValidationFailed.field("to", f"An experiment becomes '{to}' through {WORKFLOW_TARGETS[to]}.")
    reason = _text(reason, "reason", max_length=2000)
    frm = experiment.status
    if to not in ALLOWED_MOVES[frm]:
        raise InvalidTransition(frm=frm, to=to, entity="experiment")
    # The project's share lock (refuses an archived or invisible project) before any
    # write; then one conditional UPDATE: of two concurrent moves exactly one matches.
    project_for_write(project_id=experiment.project_id, actor=actor)
    fields = _transition_fields(to, timezone.now())
    if not Experiment.objects.filter(pk=experiment.pk, status=frm).update(**fields):
        current = Experiment.objects.filter(pk=experiment.pk).values_list("status", flat=True).first()
        if current is None:
            raise NotFound("Experiment not found.")
        raise InvalidTransition(frm=current, to=to, entity="experiment")
    _record_transition(experiment, frm, to, actor, **({"reason": reason} if reason else {}))
    for name, value in fields.items():
        setattr(experiment, name, value)
    return experiment


# ---------------------------------------------------------------------------------------
# Evaluations


def _min_confidence() -> Decimal:
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
    from projects.selectors import active_baselines

    metrics = rules.validate_metrics(metrics)
    confidence = rules.validate_confidence(ai_confidence)
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = _lock_experiment(experiment.pk)
    if locked.status == Status.COMPLETED:
        _move_locked(locked, Status.EVALUATING, actor, reason="metrics submitted")
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
        min_confidence=_min_confidence(),
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
        _quarantine_locked(
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
    _require_person(actor, "A human override")
    _require_admin(actor, "override a verdict")
    if verdict not in HumanVerdict.values:
        raise ValidationFailed.field("verdict", "One of: pass, fail.")
    reason = _text(reason, "reason", required=True, max_length=5000)
    project_for_write(project_id=evaluation.experiment.project_id, actor=actor)
    locked_exp = _lock_experiment(evaluation.experiment_id)
    if locked_exp.status != Status.EVALUATING:
        raise Conflict(
            f"The experiment is '{locked_exp.status}': verdicts are overridden only while it is evaluating.",
            details={"status": locked_exp.status},
        )
    latest = latest_evaluation(experiment_id=locked_exp.pk)
    if latest is None or latest.pk != evaluation.pk:
        raise Conflict("Only the experiment's latest evaluation can be overridden.", details={"latest": str(latest.pk)})
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
        _quarantine_locked(
            locked_exp,
            actor=actor,
            reason=f"Human verdict 'fail': {reason}",
            evidence={"evaluation": str(ev.pk), "override_reason": reason, "checks": ev.checks},
            failure_metrics=ev.metrics,
            automatic=True,
        )
    return ev


# ---------------------------------------------------------------------------------------
# Promotions (v1 → v2, four-eyes)


def _lock_promotion(promotion_id) -> Promotion:
    return (
        Promotion.objects.select_for_update(of=("self",))
        .select_related("to_version", "from_version")
        .get(pk=promotion_id)
    )


def _promotion_payload(p: Promotion, **extra) -> dict:
    return {"id": str(p.pk), "experiment": str(p.experiment_id), "status": p.status, **extra}


def _four_eyes(promotion: Promotion, actor, what: str) -> None:
    _require_person(actor, what)
    _require_admin(actor, what)
    if promotion.requested_by_id == actor.pk:
        raise PermissionDenied(
            "Four-eyes rule: an administrator other than the requester must decide this promotion.",
            details={"requested_by": str(promotion.requested_by_id)},
        )


@transaction.atomic
def promotion_request(*, experiment: Experiment, actor, reason: str = "") -> Promotion:
    """Propose an experiment for promotion to v2. Only an `evaluating` experiment whose
    latest evaluation's effective verdict is `pass`, with no other open promotion."""
    _require_person(actor, "A promotion request")
    reason = _text(reason, "reason", max_length=5000)
    project = project_for_write(project_id=experiment.project_id, actor=actor)
    locked = _lock_experiment(experiment.pk)
    if locked.status != Status.EVALUATING:
        raise InvalidTransition(frm=locked.status, to=Status.PROMOTED, entity="experiment")
    latest = latest_evaluation(experiment_id=locked.pk)
    verdict = latest.effective_verdict if latest else None
    if verdict != Verdict.PASS:
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
    reason = _text(reason, "reason", max_length=5000)
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
    reason = _text(reason, "reason", max_length=5000)
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
    experiment = _lock_experiment(promotion.experiment_id)
    locked = _lock_promotion(promotion.pk)
    if locked.status != PromotionStatus.APPROVED:
        raise InvalidTransition(frm=locked.status, to=PromotionStatus.COMPLETED, entity="promotion")
    if experiment.status != Status.EVALUATING:
        raise InvalidTransition(frm=experiment.status, to=Status.PROMOTED, entity="experiment")
    version = version_apply_config(
        version=locked.to_version,
        model_config=experiment.config,
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
    _move_locked(experiment, Status.PROMOTED, actor, promotion=str(locked.pk))
    return locked


# ---------------------------------------------------------------------------------------
# Quarantine (the experiment side; the record lives in the quarantine app)


def _quarantine_locked(
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
    from quarantine.services import record_quarantine

    if Status.QUARANTINED not in ALLOWED_MOVES[experiment.status]:
        raise InvalidTransition(frm=experiment.status, to=Status.QUARANTINED, entity="experiment")
    promotion = open_promotion(experiment_id=experiment.pk)
    if promotion is not None:
        raise Conflict(
            "A promotion of this experiment is open; reject it first.", details={"promotion": str(promotion.pk)}
        )
    hash_lock(experiment.config_hash)
    now = timezone.now()
    entry, _ = _blacklist_upsert(
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
    _move_locked(experiment, Status.QUARANTINED, actor, record=str(record.pk), automatic=automatic)
    v3 = Version.objects.get(project_id=experiment.project_id, tag=Tag.V3)
    version_apply_config(
        version=v3,
        model_config=experiment.config,
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
            "evidence_sha256": _json_sha(evidence),
        },
    )
    return record


@transaction.atomic
def experiment_quarantine(*, experiment: Experiment, actor, reason: str, evidence: dict | None = None):
    """An administrator quarantines a `failed` or `evaluating` experiment (SPEC §4):
    experiment, quarantine record and blacklist row change in one transaction."""
    _require_admin(actor, "quarantine an experiment")
    reason = _text(reason, "reason", required=True, max_length=5000)
    evidence = validate_config(evidence if evidence is not None else {}, "evidence")
    project_for_write(project_id=experiment.project_id, actor=actor)
    locked = _lock_experiment(experiment.pk)
    latest = latest_evaluation(experiment_id=locked.pk)
    return _quarantine_locked(
        locked,
        actor=actor,
        reason=reason,
        evidence=evidence,
        failure_metrics=latest.metrics if latest else {},
        automatic=False,
    )


# ---------------------------------------------------------------------------------------
# Blacklist


def _blacklist_view(b: Blacklist) -> dict:
    return {
        "config_hash": b.config_hash,
        "review_status": b.review_status,
        "lifted": b.lifted_at is not None,
    }


def _blacklist_upsert(*, config_hash: str, reason: str, evidence: dict, actor, now) -> tuple[Blacklist, bool]:
    """Blacklist a hash (caller holds its exclusive hash lock): insert, re-activate a
    lifted row, or keep an active one as it is. Returns (row, changed)."""
    actor_id = getattr(actor, "pk", None)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO blacklist (id, created_at, updated_at, config_hash, reason, evidence, quarantined_at,
                                   quarantined_by_id, review_status, lift_reason)
            VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, 'pending', '')
            ON CONFLICT (config_hash) DO UPDATE SET
                reason = EXCLUDED.reason, evidence = EXCLUDED.evidence, quarantined_at = EXCLUDED.quarantined_at,
                quarantined_by_id = EXCLUDED.quarantined_by_id, review_status = 'pending', reviewed_by_id = NULL,
                reviewed_at = NULL, lifted_at = NULL, lifted_by_id = NULL, lift_reason = '',
                updated_at = EXCLUDED.updated_at
            WHERE blacklist.lifted_at IS NOT NULL
            RETURNING id
            """,
            [_new_id(), now, now, config_hash, reason, canonical.dumps(evidence), now, actor_id],
        )
        changed = cursor.fetchone() is not None
    entry = Blacklist.objects.get(config_hash=config_hash)
    if changed:
        audit_record(
            entity="blacklist",
            action="add",
            actor=actor,
            payload={
                "id": str(entry.pk),
                "config_hash": config_hash,
                "reason": reason,
                "after": _blacklist_view(entry),
            },
        )
    return entry, changed


def _new_id():
    from core.ids import uuid7

    return uuid7()


@transaction.atomic
def blacklist_add(*, actor, reason: str, config: dict | None = None, config_hash: str | None = None, evidence=None):
    """An administrator blacklists a config (or its hash) directly. 409 when the hash is
    already blacklisted."""
    _require_admin(actor, "blacklist a configuration")
    reason = _text(reason, "reason", required=True, max_length=5000)
    evidence = validate_config(evidence if evidence is not None else {}, "evidence")
    if config is not None:
        digest = rules.config_hash(config)
        if config_hash and config_hash != digest:
            raise ValidationFailed.field("config_hash", "Does not match the config's hash.")
    elif config_hash:
        digest = str(config_hash).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValidationFailed.field("config_hash", "64 hexadecimal characters (SHA-256).")
    else:
        raise ValidationFailed("Give a config or a config_hash.", details={"config": ["required"]})
    hash_lock(digest)
    entry, changed = _blacklist_upsert(
        config_hash=digest, reason=reason, evidence=evidence, actor=actor, now=timezone.now()
    )
    if not changed:
        raise Conflict("This configuration is already blacklisted.", details={"blacklist": str(entry.pk)})
    return entry


def _blacklist_lift_locked(entry: Blacklist, *, actor, reason: str, review_status: str = ReviewStatus.REVIEWED):
    now = timezone.now()
    entry.lifted_at = now
    entry.lifted_by = actor
    entry.lift_reason = reason
    entry.review_status = review_status
    entry.reviewed_by = actor
    entry.reviewed_at = now
    entry.save(
        update_fields=[
            "lifted_at",
            "lifted_by",
            "lift_reason",
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "updated_at",
        ]
    )
    audit_record(
        entity="blacklist",
        action="lift",
        actor=actor,
        payload={
            "id": str(entry.pk),
            "config_hash": entry.config_hash,
            "reason": reason,
            "after": _blacklist_view(entry),
        },
    )
    return entry


@transaction.atomic
def blacklist_lift(*, entry: Blacklist, actor, reason: str) -> Blacklist:
    """An administrator lifts a blacklist entry that was added by hand. A quarantined
    configuration comes back only through an approved re-evaluation (409 otherwise)."""
    from quarantine.models import QuarantineRecord

    _require_admin(actor, "lift a blacklist entry")
    reason = _text(reason, "reason", required=True, max_length=5000)
    hash_lock(entry.config_hash)
    locked = Blacklist.objects.select_for_update().get(pk=entry.pk)
    if locked.lifted_at is not None:
        raise Conflict("This entry is already lifted.")
    if QuarantineRecord.objects.filter(config_hash=locked.config_hash).exists():
        raise Conflict(
            "This configuration is quarantined: it comes back only through an approved re-evaluation.",
            details={"config_hash": locked.config_hash},
        )
    return _blacklist_lift_locked(locked, actor=actor, reason=reason)


@transaction.atomic
def blacklist_review(*, entry: Blacklist, review_status: str, actor) -> Blacklist:
    _require_admin(actor, "review a blacklist entry")
    if review_status not in ReviewStatus.values:
        raise ValidationFailed.field("review_status", f"One of {', '.join(ReviewStatus.values)}.")
    locked = Blacklist.objects.select_for_update().get(pk=entry.pk)
    return _set_review_status(locked, review_status=review_status, actor=actor)


def _set_review_status(entry: Blacklist, *, review_status: str, actor) -> Blacklist:
    if entry.review_status == review_status:
        return entry
    before = entry.review_status
    entry.review_status = review_status
    fields = ["review_status", "updated_at"]
    if review_status == ReviewStatus.REVIEWED:
        entry.reviewed_by, entry.reviewed_at = actor, timezone.now()
        fields += ["reviewed_by", "reviewed_at"]
    entry.save(update_fields=fields)
    audit_record(
        entity="blacklist",
        action="review",
        actor=actor,
        payload={"id": str(entry.pk), "config_hash": entry.config_hash, "before": before, "after": review_status},
    )
    return entry


def blacklist_for_reevaluation(*, config_hash: str, actor, event: str) -> Blacklist | None:
    """Called by quarantine.services in its transaction, holding the hash lock:
    'appealed' (a re-evaluation was requested), 'reviewed' (rejected, or completed with
    a failing result) or 'lifted' (completed with a passing result)."""
    entry = Blacklist.objects.select_for_update().filter(config_hash=config_hash).first()
    if entry is None:
        return None
    if event == "appealed":
        return _set_review_status(entry, review_status=ReviewStatus.APPEALED, actor=actor)
    if event == "reviewed":
        return _set_review_status(entry, review_status=ReviewStatus.REVIEWED, actor=actor)
    if event == "lifted":
        if entry.lifted_at is not None:
            return entry
        return _blacklist_lift_locked(entry, actor=actor, reason="Re-evaluation passed: approved for retry.")
    raise ValueError(f"unknown blacklist event {event!r}")


# ---------------------------------------------------------------------------------------
# Comparison reports


@transaction.atomic
def comparison_create(
    *, experiment: Experiment, v2_version: Version, v1_metrics: dict, v2_metrics: dict, actor, dataset_id: str = ""
) -> ComparisonReport:
    """Compare a v1 experiment with its project's v2 version on submitted values: deltas
    and recommendation computed by experiments.rules.compare."""
    from projects.selectors import active_baselines

    if v2_version.project_id != experiment.project_id or v2_version.tag != Tag.V2:
        raise ValidationFailed.field("v2_version", "Must be the v2 version of the experiment's project.")
    v1_metrics = rules.validate_metrics(v1_metrics, "v1_metrics")
    v2_metrics = rules.validate_metrics(v2_metrics, "v2_metrics")
    dataset_id = _text(dataset_id, "dataset_id", max_length=200) or experiment.dataset_id
    project_for_write(project_id=experiment.project_id, actor=actor)
    result = rules.compare(baselines=active_baselines(project_id=experiment.project_id), v1=v1_metrics, v2=v2_metrics)
    report = ComparisonReport.objects.create(
        v1_experiment=experiment,
        v2_version=v2_version,
        dataset_id=dataset_id,
        metrics={"metrics": result.metrics, "summary": result.summary},
        recommendation=result.recommendation,
        confidence=result.confidence,
        created_by=actor,
    )
    audit_record(
        entity="comparison_report",
        action="create",
        actor=actor,
        payload={
            "id": str(report.pk),
            "experiment": str(experiment.pk),
            "v2_version": str(v2_version.pk),
            "dataset_id": dataset_id,
            "recommendation": result.recommendation,
            "confidence": str(result.confidence),
            "summary": {k: v for k, v in result.summary.items() if k != "v1_violations"},
        },
    )
    return report


# ---------------------------------------------------------------------------------------
# Bulk import of past experiments (the legacy import)
#
# experiment_create starts every experiment at `created`, now. Imported history arrives
# in its final state, with its own times, so it takes this path instead, which keeps the
# invariants that do not depend on time running forward: the config hash, the blacklist
# (an experiment is never created with a configuration blacklisted before it), the
# evaluation rules (the AI verdict is computed here, by Tristate's rules, against the
# project's active baselines; the effective verdict is the override if any, else that),
# quarantine records with their blacklist rows, and one audit entry per batch. Archived
# projects accept imported history (it happened before they were archived); the status
# machine is not replayed (the legacy store kept final states, not moves).


@dataclass(frozen=True)
class EvaluationImport:
    metrics: dict
    confidence: Any
    evaluated_at: datetime
    recorded_verdict: str | None = None  # what the legacy system said; kept in `checks`
    override: str | None = None
    override_reason: str = ""


@dataclass(frozen=True)
class ExperimentImport:
    project_id: Any
    name: str
    config: dict
    status: str
    created_by_id: Any
    created_at: datetime
    description: str = ""
    dataset_id: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    evaluations: tuple = ()


_STATUSES = frozenset(Status.values)
_VERDICTS = frozenset(Verdict.values)
_HUMAN_VERDICTS = frozenset(HumanVerdict.values)


def _evaluation_checked(n: int, ev: EvaluationImport) -> tuple[dict, Decimal, str | None, str]:
    where = f"evaluations[{n}]"
    try:
        metrics = rules.validate_metrics(ev.metrics, f"{where}.metrics")
        confidence = rules.validate_confidence(ev.confidence, f"{where}.confidence")
    except ValidationFailed as exc:
        raise ValidationFailed(f"{where}: {exc.message}", details=exc.details) from None
    if ev.recorded_verdict is not None and ev.recorded_verdict not in _VERDICTS:
        raise ValidationFailed.field(f"{where}.verdict", f"Unknown verdict {ev.recorded_verdict!r}.")
    override = ev.override
    if override is not None and override not in _HUMAN_VERDICTS:
        raise ValidationFailed.field(f"{where}.override", f"Unknown override {override!r} (pass or fail).")
    reason = _text(ev.override_reason, f"{where}.override_reason", max_length=5000)
    if override is not None and not reason:
        raise ValidationFailed.field(f"{where}.override_reason", "An override needs its reason.")
    if override is None:
        reason = ""
    return metrics, confidence, override, reason


@transaction.atomic
def experiments_import(*, experiments: list[ExperimentImport], actor, context: dict | None = None) -> list:
    """Create many past experiments with their evaluations (legacy import; see the section
    comment). Returns one core.bulk.RowResult per experiment, in order: created, or
    refused with the reason (invalid field, configuration blacklisted before the
    experiment was created). Nothing is written for a refused experiment."""
    from core import bulk
    from projects.models import Baseline

    results: list = [None] * len(experiments)
    rows = []
    for index, exp in enumerate(experiments):
        try:
            name = _text(exp.name, "name", required=True, max_length=200)
            description = _text(exp.description, "description", max_length=100_000)
            dataset_id = _text(exp.dataset_id, "dataset_id", max_length=200)
            digest = config_hash(exp.config)
            if exp.status not in _STATUSES:
                raise ValidationFailed.field("status", f"Unknown status {exp.status!r}.")
            evaluations = [_evaluation_checked(n, ev) for n, ev in enumerate(exp.evaluations)]
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        rows.append((index, exp, name, description, dataset_id, digest, evaluations))
    if not rows:
        return results
    with connection.cursor() as cursor:
        # Blacklisting waits for this batch and this batch sees every blacklisting that
        # committed before it (what the shared hash locks of experiment_create give).
        cursor.execute("LOCK TABLE blacklist IN SHARE MODE")
        cursor.execute(
            "SELECT config_hash, quarantined_at FROM blacklist WHERE lifted_at IS NULL AND config_hash = ANY(%s)",
            [list({row[5] for row in rows})],
        )
        blacklisted = dict(cursor.fetchall())
    baselines: dict = {}
    for pk, project_id, metric_key, operator, threshold in (
        Baseline.objects.filter(project_id__in={row[1].project_id for row in rows}, active=True)
        .order_by("metric_key", "id")
        .values_list("id", "project_id", "metric_key", "operator", "threshold")
    ):
        baselines.setdefault(project_id, []).append(rules.BaselineRule(pk, metric_key, operator, threshold))
    min_confidence = _min_confidence()
    exp_rows, eval_rows = [], []
    for index, exp, name, description, dataset_id, digest, evaluations in rows:
        since = blacklisted.get(digest)
        if since is not None and since <= exp.created_at:
            results[index] = bulk.refused(
                f"config: this configuration (hash {digest}) has been blacklisted since {since.isoformat()}"
            )
            continue
        exp_id = uuid7()
        results[index] = bulk.created(exp_id)
        times = [t for t in (exp.created_at, exp.started_at, exp.completed_at) if t is not None]
        exp_rows.append(
            [
                exp_id,
                exp.created_at,
                max(times),
                exp.project_id,
                name,
                description,
                exp.config,
                digest,
                dataset_id,
                exp.status,
                exp.started_at,
                exp.completed_at,
                exp.created_by_id,
            ]
        )
        for ev, (metrics, confidence, override, reason) in zip(exp.evaluations, evaluations, strict=True):
            verdict = rules.compute_verdict(
                baselines=baselines.get(exp.project_id, []),
                metrics=metrics,
                confidence=confidence,
                min_confidence=min_confidence,
            )
            checks = {**verdict.checks, "imported": {"recorded_verdict": ev.recorded_verdict}}
            eval_rows.append(
                [
                    uuid7(),
                    ev.evaluated_at,
                    exp_id,
                    metrics,
                    verdict.verdict,
                    rules.quantize4(confidence),
                    checks,
                    override,
                    reason,
                    override or verdict.verdict,
                    EvaluatedBy.HUMAN if override else EvaluatedBy.AI,
                ]
            )
    with connection.cursor() as cursor:
        if exp_rows:
            cursor.execute(
                """
                INSERT INTO experiments (id, created_at, updated_at, project_id, name, description, version, config,
                                         config_hash, dataset_id, status, started_at, completed_at, created_by_id)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>2)::timestamptz, (r->>3)::uuid, r->>4, r->>5, 'v1',
                       r->6, r->>7, r->>8, r->>9, (r->>10)::timestamptz, (r->>11)::timestamptz, (r->>12)::uuid
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [bulk.json_rows(exp_rows)],
            )
        if eval_rows:
            cursor.execute(
                """
                INSERT INTO evaluations (id, created_at, evaluated_at, experiment_id, metrics, ai_verdict,
                                         ai_confidence, checks, human_override, override_reason, effective_verdict,
                                         evaluated_by, evaluator_id)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>1)::timestamptz, (r->>2)::uuid, r->3, r->>4,
                       (r->>5)::numeric, r->6, r->>7, r->>8, r->>9, r->>10, NULL
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [bulk.json_rows(eval_rows)],
            )
    if exp_rows:
        statuses: dict[str, int] = {}
        for row in exp_rows:
            statuses[row[9]] = statuses.get(row[9], 0) + 1
        audit_record(
            entity="experiment",
            action="import",
            actor=actor,
            payload={
                **(context or {}),
                "count": len(exp_rows),
                "ids": [str(row[0]) for row in exp_rows],
                "statuses": statuses,
                "evaluations": len(eval_rows),
            },
        )
    return results


@dataclass(frozen=True)
class QuarantineImport:
    experiment_id: Any
    config: dict
    reason: str
    quarantined_at: datetime
    evidence: dict = dataclasses.field(default_factory=dict)
    failure_metrics: dict = dataclasses.field(default_factory=dict)
    quarantined_by_id: Any = None
    review_status: str = "quarantined"


# How an imported record's review status leaves its blacklist row.
_BLACKLIST_FOR_RECORD = {
    "quarantined": ("pending", False),
    "under_review": ("appealed", False),
    "approved_retry": ("reviewed", True),
}


@transaction.atomic
def quarantines_import(*, records: list[QuarantineImport], actor, context: dict | None = None) -> list:
    """Archive many past quarantines (legacy import): for each, the quarantine record of a
    `quarantined` experiment, with that experiment's config (its hash must match), and
    the config's blacklist row (active; lifted when the record was approved for retry),
    under the exclusive config-hash locks, as _quarantine_locked does. One record per
    config hash: a config quarantined before keeps its record, which gets a dated note
    (record_quarantine's rule). One audit entry per batch. Returns core.bulk.RowResults
    (the record's id) in order."""
    from core import bulk
    from quarantine.models import QuarantineRecord, RecordStatus

    results: list = [None] * len(records)
    experiments = {
        e.pk: e
        for e in Experiment.objects.filter(pk__in={r.experiment_id for r in records}).only(
            "pk", "status", "config_hash", "project_id"
        )
    }
    rows = []
    for index, rec in enumerate(records):
        try:
            exp = experiments.get(rec.experiment_id)
            if exp is None:
                raise ValidationFailed.field("experiment", "No such experiment.")
            if exp.status != Status.QUARANTINED:
                raise ValidationFailed.field(
                    "experiment", f"The experiment is '{exp.status}', not quarantined: it has no quarantine record."
                )
            digest = config_hash(rec.config)
            if digest != exp.config_hash:
                raise ValidationFailed.field("config", "Differs from the experiment's configuration (hash mismatch).")
            reason = _text(rec.reason, "reason", required=True, max_length=10_000)
            evidence = validate_config(rec.evidence if rec.evidence is not None else {}, "evidence")
            failure = validate_config(rec.failure_metrics if rec.failure_metrics is not None else {}, "failure_metrics")
            if rec.review_status not in RecordStatus.values:
                raise ValidationFailed.field("review_status", f"Unknown review status {rec.review_status!r}.")
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        rows.append((index, rec, exp, digest, reason, evidence, failure))
    if not rows:
        return results
    with connection.cursor() as cursor:
        keys = sorted({_hash_key(row[3]) for row in rows})
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM (SELECT unnest(%s::int[]) AS k ORDER BY 1) AS s",
            [HASH_LOCK_NAMESPACE, keys],
        )
        cursor.execute(
            "SELECT experiment_id FROM quarantine_records WHERE experiment_id = ANY(%s)",
            [[row[2].pk for row in rows]],
        )
        has_record = {r[0] for r in cursor.fetchall()}
    existing = {
        r.config_hash: r
        for r in QuarantineRecord.objects.select_for_update().filter(config_hash__in={row[3] for row in rows})
    }
    now = timezone.now()
    new_rows, notes, blacklist_rows = [], {}, {}
    for index, rec, exp, digest, reason, evidence, failure in rows:
        if exp.pk in has_record:
            results[index] = bulk.refused("experiment: already has a quarantine record")
            continue
        has_record.add(exp.pk)
        record = existing.get(digest)
        if record is not None:
            note = (
                f"{rec.quarantined_at:%Y-%m-%d %H:%M} UTC: experiment {exp.pk} with this configuration "
                f"failed again (imported from the legacy store): {reason}"
            )
            notes.setdefault(record.pk, []).append(note)
            results[index] = bulk.created(record.pk)
            continue
        record_id = uuid7()
        existing[digest] = QuarantineRecord(pk=record_id, config_hash=digest)
        results[index] = bulk.created(record_id)
        new_rows.append(
            [
                record_id,
                rec.quarantined_at,
                exp.pk,
                digest,
                rec.config,
                reason,
                evidence,
                failure,
                rec.quarantined_by_id,
                rec.review_status,
            ]
        )
        review, lifted = _BLACKLIST_FOR_RECORD[rec.review_status]
        blacklist_rows[digest] = [
            uuid7(),
            digest,
            reason,
            {**evidence, "experiment": str(exp.pk)},
            rec.quarantined_at,
            rec.quarantined_by_id,
            review,
            max(now, rec.quarantined_at) if lifted else None,
        ]
    with connection.cursor() as cursor:
        if new_rows:
            cursor.execute(
                """
                INSERT INTO quarantine_records (id, created_at, updated_at, quarantined_at, experiment_id, config_hash,
                                                config, reason, evidence, failure_metrics, quarantined_by_id,
                                                review_status, review_notes)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, (r->>1)::timestamptz, (r->>2)::uuid, r->>3, r->4,
                       r->>5, r->6, r->7, (r->>8)::uuid, r->>9, %s
                FROM jsonb_array_elements(%s::jsonb) AS r
                """,
                [now, "Imported from the legacy store.", bulk.json_rows(new_rows)],
            )
        if notes:
            cursor.execute(
                """
                UPDATE quarantine_records SET review_notes = ltrim(review_notes || E'\\n' || (r->>1), E'\\n'),
                       updated_at = %s
                FROM jsonb_array_elements(%s::jsonb) AS r WHERE quarantine_records.id = (r->>0)::uuid
                """,
                [now, bulk.json_rows([[i, "\n".join(n)] for i, n in notes.items()])],
            )
        if blacklist_rows:
            actor_id = getattr(actor, "pk", actor)
            cursor.execute(
                """
                INSERT INTO blacklist (id, created_at, updated_at, config_hash, reason, evidence, quarantined_at,
                                       quarantined_by_id, review_status, reviewed_at, reviewed_by_id, lifted_at,
                                       lifted_by_id, lift_reason)
                SELECT (r->>0)::uuid, %s, %s, r->>1, r->>2, r->3, (r->>4)::timestamptz, (r->>5)::uuid, r->>6,
                       (r->>7)::timestamptz, CASE WHEN r->>7 IS NULL THEN NULL ELSE %s::uuid END,
                       (r->>7)::timestamptz, CASE WHEN r->>7 IS NULL THEN NULL ELSE %s::uuid END,
                       CASE WHEN r->>7 IS NULL THEN '' ELSE %s END
                FROM jsonb_array_elements(%s::jsonb) AS r
                ON CONFLICT (config_hash) DO UPDATE SET
                    reason = EXCLUDED.reason, evidence = EXCLUDED.evidence, quarantined_at = EXCLUDED.quarantined_at,
                    quarantined_by_id = EXCLUDED.quarantined_by_id, review_status = EXCLUDED.review_status,
                    reviewed_by_id = NULL, reviewed_at = NULL, lifted_at = NULL, lifted_by_id = NULL, lift_reason = '',
                    updated_at = EXCLUDED.updated_at
                WHERE blacklist.lifted_at IS NOT NULL AND EXCLUDED.lifted_at IS NULL
                """,
                [
                    now,
                    now,
                    actor_id,
                    actor_id,
                    "Approved for retry in the legacy store.",
                    bulk.json_rows(list(blacklist_rows.values())),
                ],
            )
    done = [str(r.id) for r in results if r is not None and r.ok]
    if done:
        audit_record(
            entity="quarantine_record",
            action="import",
            actor=actor,
            payload={
                **(context or {}),
                "count": len(done),
                "ids": done,
                "created": len(new_rows),
                "noted": sum(len(v) for v in notes.values()),
                "blacklisted": sum(1 for row in blacklist_rows.values() if row[7] is None),
            },
        )
    return results
