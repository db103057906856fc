import django_filters

from core.filters import FilterSet, StrictBooleanFilter
from projects.models import Baseline, HistoryAction, Policy, Project, VersionHistory


class ProjectFilter(FilterSet):
    owner = django_filters.UUIDFilter(field_name="owner_id")
    archived = StrictBooleanFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=200)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Project
        fields = ["owner", "archived", "name", "created_after", "created_before"]


class VersionHistoryFilter(FilterSet):
    action = django_filters.ChoiceFilter(choices=HistoryAction.choices)
    changed_by = django_filters.UUIDFilter(field_name="changed_by_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = VersionHistory
        fields = ["action", "changed_by", "created_after", "created_before"]


class BaselineFilter(FilterSet):
    active = StrictBooleanFilter()
    metric_key = django_filters.CharFilter(max_length=100)

    class Meta:
        model = Baseline
        fields = ["active", "metric_key"]


class PolicyFilter(FilterSet):
    active = StrictBooleanFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=200)

    class Meta:
        model = Policy
        fields = ["active", "name"]
