"""API routes of the experiments app."""

from core.routers import OptionalSlashRouter
from experiments.api import views

router = OptionalSlashRouter()
router.register("experiments", views.ExperimentViewSet, basename="experiment")
router.register(
    r"experiments/(?P<experiment_pk>[^/.]+)/evaluations",
    views.ExperimentEvaluationViewSet,
    basename="experiment-evaluation",
)
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")
router.register("promotions", views.PromotionViewSet, basename="promotion")
router.register("blacklist", views.BlacklistViewSet, basename="blacklist")
router.register("comparison-reports", views.ComparisonReportViewSet, basename="comparison-report")

urlpatterns = [*router.urls]
