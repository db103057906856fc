"""The fast output serializers render exactly what DRF's generic machinery renders."""

import pytest
from rest_framework import serializers

from experiments.api.serializers import (
    BlacklistOutput,
    ComparisonOutput,
    EvaluationOutput,
    ExperimentOutput,
    PromotionOutput,
)
from experiments.models import Blacklist, ComparisonReport, Evaluation, Experiment, Promotion
from experiments.selectors import experiment_get, experiment_list
from experiments.services import comparison_create, promotion_approve, promotion_request
from projects.api.serializers import BaselineOutput, PolicyOutput, ProjectOutput, VersionHistoryOutput, VersionOutput
from projects.models import Baseline, Policy, Project, Tag, Version, VersionHistory
from projects.services import policy_create
from projects.tests.factories import PASSING, evaluating_experiment, make_experiment, quarantined_experiment
from quarantine.api.serializers import QuarantineRecordOutput, ReevaluationOutput
from quarantine.models import QuarantineRecord, ReevaluationRequest
from quarantine.services import reevaluation_request

PAIRS = [
    (ExperimentOutput, Experiment),
    (EvaluationOutput, Evaluation),
    (PromotionOutput, Promotion),
    (BlacklistOutput, Blacklist),
    (ComparisonOutput, ComparisonReport),
    (ProjectOutput, Project),
    (VersionOutput, Version),
    (VersionHistoryOutput, VersionHistory),
    (BaselineOutput, Baseline),
    (PolicyOutput, Policy),
    (QuarantineRecordOutput, QuarantineRecord),
    (ReevaluationOutput, ReevaluationRequest),
]


@pytest.mark.django_db
def test_fast_rendering_equals_drf_rendering(project, regular_user, admin_user):
    experiment, _ = evaluating_experiment(project, regular_user, confidence=0.5)
    passing, _ = evaluating_experiment(project, regular_user)
    promotion_approve(promotion=promotion_request(experiment=passing, actor=regular_user), actor=admin_user)
    _, record = quarantined_experiment(project, regular_user)
    reevaluation_request(record=record, reason="r", actor=regular_user)
    comparison_create(
        experiment=experiment,
        v2_version=Version.objects.get(project=project, tag=Tag.V2),
        v1_metrics=PASSING,
        v2_metrics=PASSING,
        actor=regular_user,
    )
    policy_create(name="p", rego_code="package p", actor=admin_user)
    make_experiment(project, regular_user)
    checked = 0
    for serializer, model in PAIRS:
        rows = list(model.objects.all())
        assert rows, model
        for row in rows:
            fast = serializer(row).data
            generic = serializers.ModelSerializer.to_representation(serializer(row), row)
            assert dict(fast) == dict(generic), (model.__name__, fast, generic)
            checked += 1
    for row in [*experiment_list(user=regular_user), experiment_get(user=regular_user, pk=experiment.pk)]:
        assert dict(ExperimentOutput(row).data) == dict(
            serializers.ModelSerializer.to_representation(ExperimentOutput(row), row)
        )
    assert checked >= len(PAIRS)
