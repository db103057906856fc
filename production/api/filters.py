"""List filters of the production API: indexed fields, date ranges; unknown values are 400s.
Explicit labels: what the browsable API and the OpenAPI schema show."""

import django_filters

from core.filters import FilterSet
from production.models import AnalysisSession, SessionStatus
from projects.models import Tag


class SessionFilter(FilterSet):
    status = django_filters.MultipleChoiceFilter(
        label="Status (repeat for several)", choices=SessionStatus.choices, distinct=False
    )
    project = django_filters.UUIDFilter(label="Project id", field_name="project_id")
    provider = django_filters.UUIDFilter(label="Provider id", field_name="provider_id")
    user = django_filters.UUIDFilter(
        label="User id", field_name="user_id", help_text="Admins and viewers: one user's sessions."
    )
    version = django_filters.ChoiceFilter(label="Zone version", choices=Tag.choices)
    created_after = django_filters.IsoDateTimeFilter(
        label="Created at or after", field_name="created_at", lookup_expr="gte"
    )
    created_before = django_filters.IsoDateTimeFilter(label="Created before", field_name="created_at", lookup_expr="lt")
    started_after = django_filters.IsoDateTimeFilter(
        label="Started at or after", field_name="started_at", lookup_expr="gte"
    )
    started_before = django_filters.IsoDateTimeFilter(label="Started before", field_name="started_at", lookup_expr="lt")
    finished_after = django_filters.IsoDateTimeFilter(
        label="Finished at or after", field_name="finished_at", lookup_expr="gte"
    )
    finished_before = django_filters.IsoDateTimeFilter(
        label="Finished before", field_name="finished_at", lookup_expr="lt"
    )

    class Meta:
        model = AnalysisSession
        fields = [
            "status",
            "project",
            "provider",
            "user",
            "version",
            "created_after",
            "created_before",
            "started_after",
            "started_before",
            "finished_after",
            "finished_before",
        ]
