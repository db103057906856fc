"""API routes of the experiments app."""

from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = [*router.urls]
