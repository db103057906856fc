import django_filters

from core.filters import FilterSet
from quarantine.models import QuarantineRecord, RecordStatus, ReevaluationRequest, RequestStatus


class QuarantineRecordFilter(FilterSet):
    review_status = django_filters.MultipleChoiceFilter(choices=RecordStatus.choices, distinct=False)
    experiment = django_filters.UUIDFilter(field_name="experiment_id")
    project = django_filters.UUIDFilter(field_name="experiment__project_id")
    quarantined_by = django_filters.UUIDFilter(field_name="quarantined_by_id")
    config_hash = django_filters.CharFilter(max_length=64)
    quarantined_after = django_filters.IsoDateTimeFilter(field_name="quarantined_at", lookup_expr="gte")
    quarantined_before = django_filters.IsoDateTimeFilter(field_name="quarantined_at", lookup_expr="lt")

    class Meta:
        model = QuarantineRecord
        fields = [
            "review_status",
            "experiment",
            "project",
            "quarantined_by",
            "config_hash",
            "quarantined_after",
            "quarantined_before",
        ]


class ReevaluationFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices, distinct=False)
    quarantine_record = django_filters.UUIDFilter(field_name="quarantine_record_id")
    requested_by = django_filters.UUIDFilter(field_name="requested_by_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ReevaluationRequest
        fields = ["status", "quarantine_record", "requested_by", "created_after", "created_before"]
