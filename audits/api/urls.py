"""API routes of the audits app."""

from audits.api.views import AuditLogViewSet, StatisticsView
from core.routers import OptionalSlashRouter, api_path

router = OptionalSlashRouter()
router.register("audit-log", AuditLogViewSet, basename="audit-log")

urlpatterns = [
    # Before the router, whose detail route would otherwise take "statistics" for an id.
    api_path("audit-log/statistics", StatisticsView.as_view(), name="audit-log-statistics"),
    *router.urls,
]
