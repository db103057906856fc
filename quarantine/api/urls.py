"""API routes of the quarantine app."""

from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = [*router.urls]
