import django_filters

from audits.models import AuditLogRow, Statistic
from core.filters import FilterSet


class AuditLogFilter(FilterSet):
    ts_after = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    ts_before = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt")
    object_id = django_filters.CharFilter(
        field_name="payload__id",
        max_length=100,
        help_text="One object's history: the entries whose payload names this id (with `entity`, one kind of "
        "object; console changes of it have entity `admin`).",
    )

    class Meta:
        model = AuditLogRow
        fields = ["entity", "action", "actor", "object_id", "ts_after", "ts_before"]


class StatisticFilter(FilterSet):
    day_after = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_before = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = Statistic
        fields = ["entity", "action", "day_after", "day_before"]
