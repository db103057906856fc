"""API routes of the projects app."""

from core.routers import OptionalSlashRouter, api_path
from projects.api import views

router = OptionalSlashRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(r"projects/(?P<project_pk>[^/.]+)/versions", views.VersionViewSet, basename="project-version")
router.register(r"projects/(?P<project_pk>[^/.]+)/baselines", views.BaselineViewSet, basename="project-baseline")
router.register(r"projects/(?P<project_pk>[^/.]+)/policies", views.ProjectPolicyViewSet, basename="project-policy")
router.register("policies", views.PolicyViewSet, basename="policy")

urlpatterns = [
    api_path("versions/<str:pk>/history", views.VersionHistoryView.as_view(), name="version-history"),
    *router.urls,
]
