"""API routes of the production app."""

from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = [*router.urls]
