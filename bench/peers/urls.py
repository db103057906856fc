from django.http import JsonResponse
from django.urls import include, path
from rest_framework.routers import DefaultRouter

from bench.peers.lab.api import ExperimentViewSet, MeView

router = DefaultRouter()
router.register("experiments", ExperimentViewSet, basename="experiment")

urlpatterns = [
    path("healthz", lambda request: JsonResponse({"status": "ok"})),
    path("api/me/", MeView.as_view()),
    path("api/", include(router.urls)),
]
