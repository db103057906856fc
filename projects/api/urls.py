"""API routes of the projects app."""

from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = [*router.urls]
