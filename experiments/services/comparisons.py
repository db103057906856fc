"""Comparison reports between an experiment (v1) and a v2 version."""

from __future__ import annotations

from django.db import transaction

from audits.services import audit_record
from core.exceptions import ValidationFailed
from experiments import rules
from experiments.models import ComparisonReport, Experiment
from experiments.services.lifecycle import cleaned_text
from projects.models import Tag, Version
from projects.selectors import active_baselines, project_for_write


@transaction.atomic
def comparison_create(
    *, experiment: Experiment, v2_version: Version, v1_metrics: dict, v2_metrics: dict, actor, dataset_id: str = ""
) -> ComparisonReport:
    """Compare a v1 experiment with its project's v2 version on submitted values: deltas
    and recommendation computed by experiments.rules.compare."""

    if v2_version.project_id != experiment.project_id or v2_version.tag != Tag.V2:
        raise ValidationFailed.field("v2_version", "Must be the v2 version of the experiment's project.")
    v1_metrics = rules.validate_metrics(v1_metrics, "v1_metrics")
    v2_metrics = rules.validate_metrics(v2_metrics, "v2_metrics")
    dataset_id = cleaned_text(dataset_id, "dataset_id", max_length=200) or experiment.dataset_id
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
