"""Input and output shapes of the production API. Inputs check types and shapes; the rules
(sha256 format, URI, score range, status machines) live in production.rules and the
services, so the admin and commands get them too."""

from rest_framework import serializers

from core.json_types import TypedInput
from core.serializers import CachedFieldsOutput
from production.models import (
    AnalysisSession,
    AnalysisTask,
    Artifact,
    ArtifactType,
    CodeReviewResult,
    SessionStatus,
    TaskStatus,
    TaskType,
)
from projects.models import Tag


class StrictInteger(serializers.IntegerField):
    """A JSON integer: not a string, not a boolean, not 1.5."""

    default_error_messages = {"invalid": "A whole number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictScore(serializers.DecimalField):
    """A JSON number (or decimal string) from 0 to 100 with at most two decimals."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=5, decimal_places=2, min_value=0, max_value=100, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


# ---------------------------------------------------------------------------------------
# Sessions

SESSION_FIELDS = [
    "id",
    "user",
    "project",
    "version",
    "provider",
    "status",
    "started_at",
    "finished_at",
    "error_message",
    "metadata",
    "created_at",
    "updated_at",
]


class AnalysisSessionOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = AnalysisSession
        fields = SESSION_FIELDS
        read_only_fields = fields


class AnalysisTaskOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = AnalysisTask
        fields = [
            "id",
            "session",
            "type",
            "status",
            "result",
            "error_message",
            "started_at",
            "finished_at",
            "duration_ms",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AnalysisSessionDetailOutput(CachedFieldsOutput, serializers.ModelSerializer):
    tasks = AnalysisTaskOutput(
        many=True, read_only=True, source="task_list", help_text="The session's tasks, in creation order."
    )

    class Meta:
        model = AnalysisSession
        fields = [*SESSION_FIELDS, "tasks"]
        read_only_fields = fields


class AnalysisSessionCreateInput(TypedInput):
    project = serializers.UUIDField()
    version = serializers.ChoiceField(choices=Tag.choices, default=Tag.V2)
    provider = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="A catalog provider; checks your quota first."
    )
    metadata = serializers.DictField(required=False, default=dict)


class AnalysisSessionTransitionInput(TypedInput):
    to = serializers.ChoiceField(choices=SessionStatus.choices)
    error_message = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


class AnalysisSessionCancelInput(TypedInput):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)


# ---------------------------------------------------------------------------------------
# Tasks


class AnalysisTaskCreateInput(TypedInput):
    type = serializers.ChoiceField(choices=TaskType.choices)


class AnalysisTaskUpdateInput(TypedInput):
    status = serializers.ChoiceField(choices=TaskStatus.choices, required=False)
    result = serializers.JSONField(required=False, allow_null=True, help_text="Any JSON value.")
    error_message = serializers.CharField(required=False, allow_blank=True, max_length=10_000)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one of status, result, error_message.")
        return attrs


# ---------------------------------------------------------------------------------------
# Artifacts and code reviews


class ArtifactOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = Artifact
        fields = ["id", "session", "type", "s3_uri", "sha256", "size_bytes", "metadata", "created_at", "expires_at"]
        read_only_fields = fields


class ArtifactCreateInput(TypedInput):
    type = serializers.ChoiceField(choices=ArtifactType.choices)
    s3_uri = serializers.CharField(
        max_length=2048, trim_whitespace=False, help_text="s3://bucket/key, gs://bucket/key or https://host/path."
    )
    sha256 = serializers.CharField(trim_whitespace=False, help_text="64 lower-case hexadecimal characters.")
    size_bytes = StrictInteger(min_value=0, max_value=2**63 - 1)
    metadata = serializers.DictField(required=False, default=dict)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CodeReviewOutput(CachedFieldsOutput, serializers.ModelSerializer):
    class Meta:
        model = CodeReviewResult
        fields = [
            "id",
            "session",
            "code_language",
            "code_length",
            "overall_score",
            "vulnerabilities_count",
            "issues_count",
            "model_used",
            "analysis_time_ms",
            "created_at",
        ]
        read_only_fields = fields


class CodeReviewCreateInput(TypedInput):
    code_language = serializers.CharField(max_length=50)
    code_length = StrictInteger(min_value=0, max_value=2**63 - 1)
    overall_score = StrictScore()
    vulnerabilities_count = StrictInteger(min_value=0, max_value=2**31 - 1, required=False, default=0)
    issues_count = StrictInteger(min_value=0, max_value=2**31 - 1, required=False, default=0)
    model_used = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    analysis_time_ms = StrictInteger(min_value=0, max_value=2**63 - 1, required=False, allow_null=True, default=None)


# ---------------------------------------------------------------------------------------
# Statistics


class AnalysisStatisticsQuery(TypedInput):
    date_from = serializers.DateField(required=False, help_text="First UTC day (default: 29 days before date_to).")
    date_to = serializers.DateField(required=False, help_text="Last UTC day, included (default: today).")
    project = serializers.UUIDField(required=False, help_text="Only this project's sessions.")


class SessionStatusCounts(serializers.Serializer):
    created = serializers.IntegerField()
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()


class SessionsOfDay(serializers.Serializer):
    day = serializers.DateField()
    total = serializers.IntegerField()
    by_status = SessionStatusCounts()


class TaskDurationStats(serializers.Serializer):
    type = serializers.ChoiceField(choices=TaskType.choices)
    count = serializers.IntegerField()
    mean_ms = serializers.FloatField(allow_null=True)
    p50_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)


class ScoreBucket(serializers.Serializer):
    to = serializers.IntegerField(help_text="Upper bound (excluded, except 100 in the last bucket).")
    count = serializers.IntegerField()

    def get_fields(self):
        fields = super().get_fields()
        # "from" is a Python keyword: declared here so the output key is `from`.
        return {"from": serializers.IntegerField(help_text="Lower bound (included)."), **fields}


class LanguageScoreStats(serializers.Serializer):
    language = serializers.CharField()
    count = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    buckets = ScoreBucket(many=True)


class AnalysisStatisticsOutput(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    scope = serializers.ChoiceField(choices=[("all", "all"), ("own", "own")], help_text="Whose sessions count.")
    project = serializers.UUIDField(allow_null=True)
    sessions_per_day = SessionsOfDay(many=True, help_text="Sessions per creation day (UTC) and status.")
    task_durations = TaskDurationStats(
        many=True, help_text="Durations of tasks that finished (completed or failed) in the window, per type."
    )
    review_scores = LanguageScoreStats(many=True, help_text="Code-review scores per language, created in the window.")
