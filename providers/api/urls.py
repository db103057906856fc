"""API routes of the providers app."""

from core.routers import OptionalSlashRouter, api_path
from providers.api import views

router = OptionalSlashRouter()
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("me/providers", views.MyProviderViewSet, basename="my-provider")
router.register("quotas", views.QuotaViewSet, basename="quota")
router.register("usage", views.UsageViewSet, basename="usage")
router.register("cost-alerts", views.CostAlertViewSet, basename="cost-alert")

urlpatterns = [
    api_path("me/quota", views.MyQuotaView.as_view(), name="my-quota"),
    *router.urls,
]
