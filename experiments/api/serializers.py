from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput, JsonTextField
from experiments.models import (
    Blacklist,
    ComparisonReport,
    Evaluation,
    Experiment,
    HumanVerdict,
    Promotion,
    ReviewStatus,
    Status,
    Verdict,
)


class StrictNumber(serializers.FloatField):
    """A JSON number (not a string, not a boolean); integers stay integers."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return data


def metrics_field(**kwargs) -> serializers.DictField:
    return serializers.DictField(
        child=StrictNumber(), help_text='Metric name → number, e.g. {"accuracy": 0.91}.', **kwargs
    )


# ---------------------------------------------------------------------------------------
# Experiments


class ExperimentOutput(CachedFieldsOutput, serializers.ModelSerializer):
    config = JsonTextField(
        source="config_text", help_text="The model configuration, its keys in the order they were sent."
    )
    verdict = serializers.SerializerMethodField(
        help_text="Effective verdict of the latest evaluation (null before the first)."
    )

    class Meta:
        model = Experiment
        fields = [
            "id",
            "project",
            "name",
            "description",
            "version",
            "config",
            "config_hash",
            "dataset_id",
            "status",
            "verdict",
            "created_by",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=Verdict.choices, allow_null=True))
    def get_verdict(self, obj):
        return getattr(obj, "verdict", None)


class ExperimentCreateInput(TypedInput):
    project = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=100_000)
    config = serializers.DictField(help_text="The model configuration (any JSON object).")
    dataset_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class ExperimentUpdateInput(TypedInput):
    read_only_hints = {
        "status": "use POST /api/v1/experiments/{id}/transition/",
        "config": "an experiment's configuration is fixed when it is created; create a new experiment",
        "project": "an experiment stays in the project it was created in",
    }
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    dataset_id = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TransitionInput(TypedInput):
    to = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class QuarantineInput(TypedInput):
    reason = serializers.CharField(max_length=5000)
    evidence = serializers.DictField(required=False, default=dict)


class QuarantineResultOutput(serializers.Serializer):
    experiment = ExperimentOutput()
    quarantine_record = serializers.UUIDField(help_text="See GET /api/v1/quarantine/{id}.")
    blacklist = serializers.UUIDField(help_text="See GET /api/v1/blacklist/{id}.")


# ---------------------------------------------------------------------------------------
# Evaluations


class EvaluationOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = Evaluation
        fields = [
            "id",
            "experiment",
            "metrics",
            "ai_verdict",
            "ai_confidence",
            "checks",
            "human_override",
            "override_reason",
            "effective_verdict",
            "evaluated_by",
            "evaluator",
            "evaluated_at",
            "created_at",
        ]
        read_only_fields = fields


class EvaluationInput(TypedInput):
    metrics = metrics_field()
    ai_confidence = StrictNumber(min_value=0, max_value=1, help_text="The AI judge's confidence, 0-1.")


class OverrideInput(TypedInput):
    verdict = serializers.ChoiceField(choices=HumanVerdict.choices)
    reason = serializers.CharField(max_length=5000)


# ---------------------------------------------------------------------------------------
# Promotions


class PromotionOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = Promotion
        fields = [
            "id",
            "experiment",
            "from_version",
            "to_version",
            "status",
            "reason",
            "requested_by",
            "approver",
            "decided_at",
            "decision_reason",
            "completed_by",
            "promoted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PromotionCreateInput(TypedInput):
    experiment = serializers.UUIDField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class DecisionInput(TypedInput):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


# ---------------------------------------------------------------------------------------
# Blacklist


class BlacklistOutput(CachedFieldsOutput, serializers.ModelSerializer):
    active = serializers.BooleanField(read_only=True, help_text="Blacklisted now (not lifted).")

    class Meta:
        model = Blacklist
        fields = [
            "id",
            "config_hash",
            "active",
            "reason",
            "evidence",
            "quarantined_at",
            "quarantined_by",
            "review_status",
            "reviewed_by",
            "reviewed_at",
            "lifted_at",
            "lifted_by",
            "lift_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BlacklistCreateInput(TypedInput):
    config = serializers.DictField(required=False, help_text="The config to blacklist (or give config_hash).")
    config_hash = serializers.RegexField(r"^[0-9a-fA-F]{64}$", required=False)
    reason = serializers.CharField(max_length=5000)
    evidence = serializers.DictField(required=False, default=dict)


class BlacklistUpdateInput(TypedInput):
    read_only_hints = {"lifted": "use POST /api/v1/blacklist/{id}/lift/"}
    review_status = serializers.ChoiceField(choices=ReviewStatus.choices)


class LiftInput(TypedInput):
    reason = serializers.CharField(max_length=5000)


# ---------------------------------------------------------------------------------------
# Comparison reports


class ComparisonOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = ComparisonReport
        fields = [
            "id",
            "v1_experiment",
            "v2_version",
            "dataset_id",
            "metrics",
            "recommendation",
            "confidence",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ComparisonInput(TypedInput):
    v1_experiment = serializers.UUIDField()
    v2_version = serializers.UUIDField()
    dataset_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    v1_metrics = metrics_field()
    v2_metrics = metrics_field()
