from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput, JsonTextField
from projects.models import Baseline, Operator, Policy, Project, ProjectPolicy, Tag, Version, VersionHistory
from projects.services import METRIC_KEY_MAX, NAME_MAX, THRESHOLD_DECIMALS, THRESHOLD_MAX_DIGITS

# ---------------------------------------------------------------------------------------
# Projects


class ProjectOutput(CachedFieldsOutput, serializers.ModelSerializer):
    owner_email = serializers.EmailField(source="owner.email", read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "owner_email",
            "settings",
            "archived",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class VersionOutput(CachedFieldsOutput, serializers.ModelSerializer):
    model_config = JsonTextField(
        source="model_config_text", help_text="The version's model configuration, its keys in the order they were sent."
    )

    class Meta:
        model = Version
        fields = [
            "id",
            "project",
            "tag",
            "model_config",
            "changelog",
            "promoted_at",
            "promoted_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AgreementOutput(serializers.Serializer):
    """Judge-vs-human agreement over the project's evaluations that carry a human override."""

    evaluations = serializers.IntegerField(help_text="Evaluations of the project's experiments.")
    overridden = serializers.IntegerField(help_text="Of those, evaluations with a human override.")
    agreed = serializers.IntegerField(help_text="Overrides that agree with the AI verdict.")
    agreement_rate = serializers.FloatField(allow_null=True, help_text="agreed / overridden; null without overrides.")
    kappa = serializers.FloatField(
        allow_null=True, help_text="Cohen's kappa (AI verdict vs human verdict); null when undefined."
    )
    confusion = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="counts[ai_verdict][human_verdict] over the overridden evaluations.",
    )


class ProjectDetailOutput(ProjectOutput):
    versions = serializers.SerializerMethodField()
    agreement = serializers.SerializerMethodField()

    class Meta(ProjectOutput.Meta):
        fields = [*ProjectOutput.Meta.fields, "versions", "agreement"]
        read_only_fields = fields

    def to_representation(self, instance: Project) -> dict[str, Any]:
        # `agreement` reads this request's context: DRF's per-instance fields, not the cache.
        return serializers.ModelSerializer.to_representation(self, instance)

    @extend_schema_field(VersionOutput(many=True))
    def get_versions(self, project):
        return VersionOutput(sorted(project.versions.all(), key=lambda v: v.tag), many=True).data

    @extend_schema_field(AgreementOutput(allow_null=True))
    def get_agreement(self, project):
        sections = self.context.get("sections") or {}
        return sections.get("agreement")


class ProjectCreateInput(TypedInput):
    read_only_hints = {"archived": "create the project, then use POST /api/v1/projects/{id}/archive/"}
    name = serializers.CharField(max_length=NAME_MAX)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    settings = serializers.DictField(required=False, default=dict)
    owner = serializers.UUIDField(required=False, help_text="Administrators may create a project for another user.")


class ProjectUpdateInput(TypedInput):
    read_only_hints = {
        "archived": "use POST /api/v1/projects/{id}/archive/ or /unarchive/",
        "owner": "a project keeps the owner it was created for",
    }
    name = serializers.CharField(max_length=NAME_MAX, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    settings = serializers.DictField(required=False)


# ---------------------------------------------------------------------------------------
# Versions


class VersionUpdateInput(TypedInput):
    read_only_hints = {"promoted_at": "versions are promoted through POST /api/v1/promotions/"}
    model_config = serializers.DictField(required=False)
    changelog = serializers.CharField(required=False, allow_blank=True, max_length=100_000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class VersionHistoryOutput(CachedFieldsOutput, serializers.ModelSerializer):
    tag = serializers.CharField(source="version.tag", read_only=True)
    model_config = JsonTextField(
        source="model_config_text", help_text="The config right after the change, its keys in the order they were sent."
    )

    class Meta:
        model = VersionHistory
        fields = [
            "id",
            "version",
            "tag",
            "changed_by",
            "action",
            "from_tag",
            "to_tag",
            "reason",
            "model_config",
            "created_at",
        ]
        read_only_fields = fields


class VersionAtOutput(serializers.Serializer):
    version = serializers.UUIDField()
    project = serializers.UUIDField()
    tag = serializers.ChoiceField(choices=Tag.choices)
    ts = serializers.DateTimeField()
    model_config = serializers.JSONField()
    history = VersionHistoryOutput(allow_null=True, help_text="The change that set this config; null: as created.")


# ---------------------------------------------------------------------------------------
# Baselines


class BaselineOutput(CachedFieldsOutput, serializers.ModelSerializer):
    direction = serializers.CharField(read_only=True)
    threshold = serializers.DecimalField(
        max_digits=THRESHOLD_MAX_DIGITS, decimal_places=THRESHOLD_DECIMALS, normalize_output=True, read_only=True
    )

    class Meta:
        model = Baseline
        fields = [
            "id",
            "project",
            "metric_key",
            "operator",
            "threshold",
            "direction",
            "snapshot_id",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BaselineInput(TypedInput):
    metric_key = serializers.CharField(max_length=METRIC_KEY_MAX)
    operator = serializers.ChoiceField(choices=Operator.choices)
    threshold = serializers.DecimalField(max_digits=THRESHOLD_MAX_DIGITS, decimal_places=THRESHOLD_DECIMALS)
    snapshot_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    active = serializers.BooleanField(required=False, default=True)


class BaselineUpdateInput(TypedInput):
    metric_key = serializers.CharField(max_length=METRIC_KEY_MAX, required=False)
    operator = serializers.ChoiceField(choices=Operator.choices, required=False)
    threshold = serializers.DecimalField(
        max_digits=THRESHOLD_MAX_DIGITS, decimal_places=THRESHOLD_DECIMALS, required=False
    )
    snapshot_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


# ---------------------------------------------------------------------------------------
# Policies


class PolicyOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = Policy
        fields = ["id", "name", "description", "rego_code", "active", "created_at", "updated_at"]
        read_only_fields = fields


class PolicyInput(TypedInput):
    name = serializers.CharField(max_length=NAME_MAX)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    rego_code = serializers.CharField(max_length=500_000, trim_whitespace=False)
    active = serializers.BooleanField(required=False, default=True)


class PolicyUpdateInput(TypedInput):
    name = serializers.CharField(max_length=NAME_MAX, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    rego_code = serializers.CharField(max_length=500_000, trim_whitespace=False, required=False)
    active = serializers.BooleanField(required=False)


class ProjectPolicyOutput(serializers.ModelSerializer):
    policy = PolicyOutput(read_only=True)

    class Meta:
        model = ProjectPolicy
        fields = ["id", "project", "policy", "attached_by", "created_at"]
        read_only_fields = fields


class ProjectPolicyInput(TypedInput):
    policy = serializers.UUIDField()
