import django_filters

from projects.models import HistoryAction, Project, VersionHistory


class ProjectFilter(django_filters.FilterSet):
    owner = django_filters.UUIDFilter(field_name="owner_id")
    archived = django_filters.BooleanFilter()
    name = django_filters.CharFilter(lookup_expr="icontains", max_length=200)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Project
        fields = ["owner", "archived", "name", "created_after", "created_before"]


class VersionHistoryFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=HistoryAction.choices)
    changed_by = django_filters.UUIDFilter(field_name="changed_by_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = VersionHistory
        fields = ["action", "changed_by", "created_after", "created_before"]
