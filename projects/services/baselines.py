"""Baselines: the metric thresholds a project's evaluations are judged against."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from accounts.models import User
from audits.services import audit_record
from core.exceptions import NotFound, ValidationFailed
from projects.models import Baseline, Operator, Project
from projects.selectors import project_for_write
from projects.services.projects import METRIC_KEY_MAX, THRESHOLD_DECIMALS, THRESHOLD_MAX_DIGITS, UNSET, require_name


def baseline_threshold(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationFailed.field("threshold", "A number is required.")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationFailed.field("threshold", "A number is required.") from None
    if not number.is_finite():
        raise ValidationFailed.field("threshold", "A finite number is required.")
    quantized = number.quantize(Decimal(1).scaleb(-THRESHOLD_DECIMALS))
    if quantized != number or len(quantized.as_tuple().digits) > THRESHOLD_MAX_DIGITS:
        raise ValidationFailed.field(
            "threshold", f"At most {THRESHOLD_MAX_DIGITS} digits, {THRESHOLD_DECIMALS} after the point."
        )
    return number


def baseline_operator(value: Any) -> str:
    if value not in Operator.values:
        raise ValidationFailed.field("operator", f"One of {', '.join(Operator.values)}.")
    return value


def _baseline_view(b: Baseline) -> dict:
    return {
        "metric_key": b.metric_key,
        "operator": b.operator,
        "threshold": str(b.threshold),
        "active": b.active,
        "snapshot_id": b.snapshot_id,
    }


@transaction.atomic
def baseline_create(
    *,
    project: Project,
    metric_key: str,
    operator: str,
    threshold: Any,
    actor: User | None,
    snapshot_id: str = "",
    active: bool = True,
) -> Baseline:
    project = project_for_write(project_id=project.pk, actor=actor)
    baseline = Baseline.objects.create(
        project=project,
        metric_key=require_name(metric_key, "metric_key", METRIC_KEY_MAX),
        operator=baseline_operator(operator),
        threshold=baseline_threshold(threshold),
        snapshot_id=snapshot_id or "",
        active=bool(active),
    )
    audit_record(
        entity="baseline",
        action="create",
        actor=actor,
        payload={"id": str(baseline.pk), "project": str(project.pk), "after": _baseline_view(baseline)},
    )
    return baseline


@transaction.atomic
def baseline_update(
    *,
    baseline: Baseline,
    actor: User | None,
    metric_key: str = UNSET,
    operator: str = UNSET,
    threshold: Any = UNSET,
    snapshot_id: str = UNSET,
    active: bool = UNSET,
) -> Baseline:
    project_for_write(project_id=baseline.project_id, actor=actor)
    locked = Baseline.objects.select_for_update().get(pk=baseline.pk)
    before = _baseline_view(locked)
    if metric_key is not UNSET:
        locked.metric_key = require_name(metric_key, "metric_key", METRIC_KEY_MAX)
    if operator is not UNSET:
        locked.operator = baseline_operator(operator)
    if threshold is not UNSET:
        locked.threshold = baseline_threshold(threshold)
    if snapshot_id is not UNSET:
        locked.snapshot_id = snapshot_id or ""
    if active is not UNSET:
        locked.active = bool(active)
    after = _baseline_view(locked)
    if after == before:
        return locked
    locked.save()
    audit_record(
        entity="baseline",
        action="update",
        actor=actor,
        payload={"id": str(locked.pk), "project": str(locked.project_id), "before": before, "after": after},
    )
    return locked


@transaction.atomic
def baseline_delete(*, baseline: Baseline, actor: User | None) -> None:
    """Remove a baseline. Past evaluations keep the checks they were judged by."""
    project_for_write(project_id=baseline.project_id, actor=actor)
    payload = {"id": str(baseline.pk), "project": str(baseline.project_id), "before": _baseline_view(baseline)}
    deleted, _ = Baseline.objects.filter(pk=baseline.pk).delete()
    if not deleted:
        raise NotFound("Baseline not found.")
    audit_record(entity="baseline", action="delete", actor=actor, payload=payload)
