"""/api/v1/: each domain app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("audits.api.urls")),
    path("", include("projects.api.urls")),
    path("", include("experiments.api.urls")),
    path("", include("quarantine.api.urls")),
    path("", include("providers.api.urls")),
    path("", include("production.api.urls")),
]
