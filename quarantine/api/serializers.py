from rest_framework import serializers

from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput, JsonTextField
from quarantine.models import QuarantineRecord, ReevaluationRequest


class QuarantineRecordOutput(CachedFieldsOutput, serializers.ModelSerializer):
    project = serializers.UUIDField(source="experiment.project_id", read_only=True)
    config = JsonTextField(
        source="config_text", help_text="The archived configuration, its keys in the order they were sent."
    )

    class Meta:
        model = QuarantineRecord
        fields = [
            "id",
            "experiment",
            "project",
            "config_hash",
            "config",
            "reason",
            "evidence",
            "failure_metrics",
            "quarantined_at",
            "quarantined_by",
            "review_status",
            "reviewed_at",
            "reviewed_by",
            "review_notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReevaluationOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = ReevaluationRequest
        fields = [
            "id",
            "quarantine_record",
            "requested_by",
            "reason",
            "status",
            "approved_by",
            "approved_at",
            "rejected_by",
            "rejected_at",
            "decision_notes",
            "completed_by",
            "completed_at",
            "result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReevaluationInput(TypedInput):
    reason = serializers.CharField(max_length=5000)


class ReevaluationDecisionInput(TypedInput):
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReevaluationResultInput(TypedInput):
    result = serializers.DictField(
        help_text='{"verdict": "pass" | "fail", "metrics": {...}, "notes": "..."}: pass approves a retry, '
        "fail returns the record to quarantined."
    )
