"""API routes of the accounts app."""

from accounts.api import views
from core.routers import OptionalSlashRouter, api_path

router = OptionalSlashRouter()
router.register("auth/sessions", views.MySessionViewSet, basename="my-session")
router.register("users", views.UserViewSet, basename="user")
router.register("invitations", views.InvitationViewSet, basename="invitation")
router.register("security-events", views.SecurityEventViewSet, basename="security-event")

urlpatterns = [
    api_path("auth/register", views.RegisterView.as_view(), name="auth-register"),
    api_path("auth/verify-email", views.VerifyEmailView.as_view(), name="auth-verify-email"),
    api_path("auth/verify-email/resend", views.VerifyEmailResendView.as_view(), name="auth-verify-email-resend"),
    api_path("auth/login", views.LoginView.as_view(), name="auth-login"),
    api_path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    api_path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    api_path("auth/me", views.MeView.as_view(), name="auth-me"),
    api_path("auth/policy", views.AuthPolicyView.as_view(), name="auth-policy"),
    api_path("auth/password", views.PasswordChangeView.as_view(), name="auth-password"),
    api_path("auth/password-reset", views.PasswordResetView.as_view(), name="auth-password-reset"),
    api_path(
        "auth/password-reset/confirm", views.PasswordResetConfirmView.as_view(), name="auth-password-reset-confirm"
    ),
    api_path("auth/totp/setup", views.TotpSetupView.as_view(), name="auth-totp-setup"),
    api_path("auth/totp/confirm", views.TotpConfirmView.as_view(), name="auth-totp-confirm"),
    api_path("auth/totp/disable", views.TotpDisableView.as_view(), name="auth-totp-disable"),
    *router.urls,
]
