"""/api/v1/: each domain app contributes its own routes."""

from django.urls import include, path

from core.urls import grouped_by_first_segment

urlpatterns = grouped_by_first_segment(
    [
        path("", include("accounts.api.urls")),
        path("", include("audits.api.urls")),
        path("", include("projects.api.urls")),
        path("", include("experiments.api.urls")),
        path("", include("quarantine.api.urls")),
        path("", include("providers.api.urls")),
        path("", include("production.api.urls")),
    ]
)
