from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from console.links import landing, reset_password, verify_email
from core.api.responses import api_not_found
from core.observability.views import metrics_view, readyz
from core.views import healthz

admin.site.site_header = "Tristate operations console"
admin.site.site_title = "Tristate"
admin.site.index_title = "Operations"

# The OpenAPI document and its viewers describe the API; they expose no data, so no login.
_public = {"permission_classes": [AllowAny], "authentication_classes": []}

urlpatterns = [
    path("", landing, name="landing"),
    # The pages the e-mailed links open (accounts.emails.frontend_link).
    path("verify-email", verify_email, name="verify-email"),
    path("reset-password", reset_password, name="reset-password"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(**_public), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **_public), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema", **_public), name="redoc"),
    path("api/v1/", include("config.api_urls")),
    # Last: any other path under /api/ answers the JSON 404, with DEBUG on too.
    re_path(r"^api/", api_not_found, name="api-not-found"),
]

handler404 = "core.api.errors.handler404"
handler500 = "core.api.errors.handler500"
