import django_filters

from audits.models import AuditLogRow, Statistic
from core.filters import FilterSet


class AuditLogFilter(FilterSet):
    ts_after = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    ts_before = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta:
        model = AuditLogRow
        fields = ["entity", "action", "actor", "ts_after", "ts_before"]


class StatisticFilter(FilterSet):
    day_after = django_filters.DateFilter(field_name="day", lookup_expr="gte")
    day_before = django_filters.DateFilter(field_name="day", lookup_expr="lte")

    class Meta:
        model = Statistic
        fields = ["entity", "action", "day_after", "day_before"]
