"""API routes of the accounts app."""

from accounts.api import views
from core.routers import OptionalSlashRouter, api_path

router = OptionalSlashRouter()

urlpatterns = [
    api_path("auth/login", views.LoginView.as_view(), name="auth-login"),
    api_path("auth/me", views.MeView.as_view(), name="auth-me"),
    *router.urls,
]
