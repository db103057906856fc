"""API routes of the production app."""

from core.routers import OptionalSlashRouter
from production.api import views

router = OptionalSlashRouter()
router.register("analysis-sessions", views.AnalysisSessionViewSet, basename="analysis-session")
router.register(
    r"analysis-sessions/(?P<session_pk>[^/.]+)/tasks", views.SessionTaskViewSet, basename="analysis-session-task"
)
router.register(
    r"analysis-sessions/(?P<session_pk>[^/.]+)/artifacts",
    views.SessionArtifactViewSet,
    basename="analysis-session-artifact",
)
router.register(
    r"analysis-sessions/(?P<session_pk>[^/.]+)/code-reviews",
    views.SessionCodeReviewViewSet,
    basename="analysis-session-code-review",
)

urlpatterns = [*router.urls]
