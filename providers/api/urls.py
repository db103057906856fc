"""API routes of the providers app."""

from core.routers import OptionalSlashRouter

router = OptionalSlashRouter()

urlpatterns = [*router.urls]
