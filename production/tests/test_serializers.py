"""The fast output serializers render exactly what DRF's generic machinery renders."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework import serializers

from production import services
from production.api.serializers import (
    AnalysisSessionDetailOutput,
    AnalysisSessionOutput,
    AnalysisTaskOutput,
    ArtifactOutput,
    CodeReviewOutput,
)
from production.models import AnalysisSession, AnalysisTask, Artifact, CodeReviewResult
from production.selectors import session_detail
from production.tests.factories import make_artifact, make_review, make_session, make_task

PAIRS = [
    (AnalysisSessionOutput, AnalysisSession),
    (AnalysisTaskOutput, AnalysisTask),
    (ArtifactOutput, Artifact),
    (CodeReviewOutput, CodeReviewResult),
]


@pytest.mark.django_db
def test_fast_rendering_equals_drf_rendering(project, regular_user, provider):
    session = make_session(regular_user, project, provider=provider, metadata={"pr": 1, "labels": ["a"]})
    running = make_task(session, status="running")
    make_task(session, type="ai")
    for result in (["a", 1, None], "plain text", {"nested": {"x": [1.5, True]}}):
        services.task_update(task=running, result=result, actor=regular_user)
        assert session_detail(user=regular_user, pk=session.pk).task_list[0].result == result
    make_artifact(session, expires_at=timezone.now() + timedelta(days=1), metadata={"pages": 3})
    make_review(session, overall_score="99.99", analysis_time_ms=None, model_used="m")
    make_session(regular_user, project, status="cancelled")
    checked = 0
    for serializer, model in PAIRS:
        rows = list(model.objects.all())
        assert rows, model
        for row in rows:
            fast = serializer(row).data
            generic = serializers.ModelSerializer.to_representation(serializer(row), row)
            assert dict(fast) == dict(generic), (model.__name__, fast, generic)
            checked += 1
    detail = session_detail(user=regular_user, pk=session.pk)
    fast = AnalysisSessionDetailOutput(detail).data
    generic = serializers.ModelSerializer.to_representation(AnalysisSessionDetailOutput(detail), detail)
    assert dict(fast) == dict(generic) and len(fast["tasks"]) == 2
    empty = make_session(regular_user, project)
    detail = session_detail(user=regular_user, pk=empty.pk)
    assert AnalysisSessionDetailOutput(detail).data["tasks"] == []
    assert dict(AnalysisSessionOutput(detail).data) == dict(
        AnalysisSessionOutput(AnalysisSession.objects.get(pk=empty.pk)).data
    )
    assert checked >= 6
