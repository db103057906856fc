import django_filters

from core.filters import FilterSet, StrictBooleanFilter
from experiments.models import (
    Blacklist,
    ComparisonReport,
    EvaluatedBy,
    Evaluation,
    Experiment,
    Promotion,
    PromotionStatus,
    Recommendation,
    ReviewStatus,
    Status,
    Verdict,
)


class CreatedRange(FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


class ExperimentFilter(CreatedRange):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    project = django_filters.UUIDFilter(field_name="project_id")
    created_by = django_filters.UUIDFilter(field_name="created_by_id")
    dataset_id = django_filters.CharFilter(max_length=200)
    config_hash = django_filters.CharFilter(max_length=64)

    class Meta:
        model = Experiment
        fields = ["status", "project", "created_by", "dataset_id", "config_hash", "created_after", "created_before"]


class EvaluationFilter(CreatedRange):
    ai_verdict = django_filters.ChoiceFilter(choices=Verdict.choices)
    effective_verdict = django_filters.ChoiceFilter(choices=Verdict.choices)
    evaluated_by = django_filters.ChoiceFilter(choices=EvaluatedBy.choices)

    class Meta:
        model = Evaluation
        fields = ["ai_verdict", "effective_verdict", "evaluated_by", "created_after", "created_before"]


class PromotionFilter(CreatedRange):
    status = django_filters.MultipleChoiceFilter(choices=PromotionStatus.choices, distinct=False)
    experiment = django_filters.UUIDFilter(field_name="experiment_id")
    project = django_filters.UUIDFilter(field_name="to_version__project_id")
    requested_by = django_filters.UUIDFilter(field_name="requested_by_id")

    class Meta:
        model = Promotion
        fields = ["status", "experiment", "project", "requested_by", "created_after", "created_before"]


class BlacklistFilter(FilterSet):
    review_status = django_filters.ChoiceFilter(choices=ReviewStatus.choices)
    active = StrictBooleanFilter(field_name="lifted_at", lookup_expr="isnull")
    config_hash = django_filters.CharFilter(max_length=64)
    quarantined_after = django_filters.IsoDateTimeFilter(field_name="quarantined_at", lookup_expr="gte")
    quarantined_before = django_filters.IsoDateTimeFilter(field_name="quarantined_at", lookup_expr="lt")

    class Meta:
        model = Blacklist
        fields = ["review_status", "active", "config_hash", "quarantined_after", "quarantined_before"]


class ComparisonFilter(CreatedRange):
    v1_experiment = django_filters.UUIDFilter(field_name="v1_experiment_id")
    v2_version = django_filters.UUIDFilter(field_name="v2_version_id")
    project = django_filters.UUIDFilter(field_name="v2_version__project_id")
    recommendation = django_filters.ChoiceFilter(choices=Recommendation.choices)
    dataset_id = django_filters.CharFilter(max_length=200)

    class Meta:
        model = ComparisonReport
        fields = [
            "v1_experiment",
            "v2_version",
            "project",
            "recommendation",
            "dataset_id",
            "created_after",
            "created_before",
        ]
