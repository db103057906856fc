"""Bulk import of past experiments and quarantines (the legacy import)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audits.services import audit_record
from core import bulk
from core.exceptions import ValidationFailed
from core.ids import uuid7
from experiments import rules
from experiments.models import EvaluatedBy, Experiment, HumanVerdict, Status, Verdict
from experiments.services.evaluations import evaluation_min_confidence
from experiments.services.lifecycle import cleaned_text, config_hash, validate_config
from projects.models import Baseline
from quarantine.models import QuarantineRecord, RecordStatus
from quarantine.services.blacklist import HASH_LOCK_NAMESPACE, hash_key

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
    reason = cleaned_text(ev.override_reason, f"{where}.override_reason", max_length=5000)
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

    results: list = [None] * len(experiments)
    rows = []
    for index, exp in enumerate(experiments):
        try:
            name = cleaned_text(exp.name, "name", required=True, max_length=200)
            description = cleaned_text(exp.description, "description", max_length=100_000)
            dataset_id = cleaned_text(exp.dataset_id, "dataset_id", max_length=200)
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
    min_confidence = evaluation_min_confidence()
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
                rules.config_text(exp.config),  # a JSON string: its key order survives the jsonb rows
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
                                         config_hash, dataset_id, status, started_at, completed_at, created_by_id,
                                         config_text)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, (r->>2)::timestamptz, (r->>3)::uuid, r->>4, r->>5, 'v1',
                       r->6, r->>7, r->>8, r->>9, (r->>10)::timestamptz, (r->>11)::timestamptz, (r->>12)::uuid,
                       r->>13
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
    under the exclusive config-hash locks, as experiment_quarantine_locked does. One record per
    config hash: a config quarantined before keeps its record, which gets a dated note
    (record_quarantine's rule). One audit entry per batch. Returns core.bulk.RowResults
    (the record's id) in order."""

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
            reason = cleaned_text(rec.reason, "reason", required=True, max_length=10_000)
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
        keys = sorted({hash_key(row[3]) for row in rows})
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
    new_rows: list = []
    notes: dict[Any, list] = {}
    blacklist_rows: dict[str, list] = {}
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
                rules.config_text(rec.config),  # a JSON string: its key order survives the jsonb rows
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
                                                review_status, review_notes, config_text)
                SELECT (r->>0)::uuid, (r->>1)::timestamptz, %s, (r->>1)::timestamptz, (r->>2)::uuid, r->>3, r->4,
                       r->>5, r->6, r->7, (r->>8)::uuid, r->>9, %s, r->>10
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
