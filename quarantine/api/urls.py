"""API routes of the quarantine app."""

from core.routers import OptionalSlashRouter
from quarantine.api import views

router = OptionalSlashRouter()
router.register("quarantine", views.QuarantineRecordViewSet, basename="quarantine-record")
router.register(
    r"quarantine/(?P<record_pk>[^/.]+)/reevaluations", views.RecordReevaluationViewSet, basename="record-reevaluation"
)
router.register("reevaluations", views.ReevaluationViewSet, basename="reevaluation")

urlpatterns = [*router.urls]
