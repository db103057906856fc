"""Accounts API (API.md, Accounts): thin views that validate input, fetch through
selectors, call services and serialize the result."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.password_validation import MinimumLengthValidator, get_default_password_validators
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import serializers as s
from accounts.api.filters import InvitationFilter, SecurityEventFilter, UserFilter
from accounts.api.throttles import AuthRateThrottle
from accounts.models import Invitation, RevokeReason, SecurityEvent, Session, User
from accounts.types import SignedInRequest
from core.api.strict import QueryNamesOnly, StrictFilterBackend
from core.db.replica_views import ReplicaReadMixin
from core.exceptions import NotAuthenticated
from core.pagination import LogCursorPagination
from core.permissions import AdminOnly, SelfService

TAG = ["auth"]
NO_CONTENT = {204: OpenApiResponse(description="Done; no body.")}


def token_response(issued, code=status.HTTP_200_OK) -> Response:
    return Response(
        s.TokenOutput(
            {
                "access": issued.access,
                "refresh": issued.refresh,
                "access_expires_at": issued.access_expires_at,
                "user": issued.session.user,
            }
        ).data,
        status=code,
    )


def _valid(serializer_class, request, **kwargs) -> dict:
    data = serializer_class(data=request.data, **kwargs)
    data.is_valid(raise_exception=True)
    return data.validated_data


def _current_session(request) -> Session | None:
    return request.auth if isinstance(request.auth, Session) else None


class AuthThrottled:
    """Login, registration, refresh, verification and reset share the THROTTLE_AUTH rate,
    counted per client address (anonymous) or per user."""

    throttle_classes: Sequence[type[BaseThrottle]] = [AuthRateThrottle]
    throttle_scope = "auth"


class AnonymousAuthView(AuthThrottled, APIView):
    """Endpoints for people who are not logged in: a stale Authorization header must not
    turn them into a 401, so no authentication runs at all."""

    permission_classes = [AllowAny]
    authentication_classes = []


# ---------------------------------------------------------------------------------------
# Anonymous flows


class RegisterView(AnonymousAuthView):
    created_location = "/api/v1/auth/me"  # the new account, once verified and logged in

    @extend_schema(
        request=s.RegisterInput,
        responses={201: s.UserOutput},
        tags=TAG,
        summary="Register (with an invitation code, or freely when OPEN_REGISTRATION is on)",
        description="Creates an unverified account and e-mails a verification link. 400 codes: "
        "`invitation_required`, `invitation_invalid`, `invitation_expired`, `invitation_used_up`, "
        "`invitation_revoked`, `validation_error`; 409 `conflict` when the e-mail is taken.",
    )
    def post(self, request):
        user = services.register(request=request, **_valid(s.RegisterInput, request))
        return Response(s.UserOutput(user).data, status=status.HTTP_201_CREATED)


class VerifyEmailView(AnonymousAuthView):
    @extend_schema(
        request=s.TokenInput,
        responses={200: s.VerifiedOutput},
        tags=TAG,
        summary="Confirm an e-mail address with the token from the verification e-mail",
        description="400 `invalid_token` or `token_expired`.",
    )
    def post(self, request):
        user = services.email_verify(request=request, **_valid(s.TokenInput, request))
        return Response(s.VerifiedOutput({"verified": user.verified, "email": user.email}).data)


class VerifyEmailResendView(AnonymousAuthView):
    @extend_schema(
        request=s.EmailInput,
        responses={202: s.AcceptedOutput},
        tags=TAG,
        summary="Send the verification e-mail again (202 whether or not the address exists)",
    )
    def post(self, request):
        services.email_verification_resend(request=request, **_valid(s.EmailInput, request))
        return Response({"detail": "If the address needs verifying, an e-mail is on its way."}, status=202)


class LoginView(AnonymousAuthView):
    @extend_schema(
        request=s.LoginInput,
        responses={200: s.TokenOutput},
        tags=TAG,
        summary="Log in: an access token and a refresh token",
        description="401 `invalid_credentials` (also for unknown e-mails and wrong one-time codes) or "
        "`otp_required`; 403 `email_unverified`; 423 `account_locked` with Retry-After.",
    )
    def post(self, request):
        issued = services.login(request=request, **_valid(s.LoginInput, request))
        return token_response(issued)


class RefreshView(AnonymousAuthView):
    @extend_schema(
        request=s.RefreshInput,
        responses={200: s.TokenOutput},
        tags=TAG,
        summary="Rotate a refresh token: new tokens, the old refresh token is dead",
        description="401 `invalid_token`. Presenting an already rotated token revokes every session of its user.",
    )
    def post(self, request):
        issued = services.session_refresh(request=request, **_valid(s.RefreshInput, request))
        return token_response(issued)


class PasswordResetView(AnonymousAuthView):
    @extend_schema(
        request=s.EmailInput,
        responses={202: s.AcceptedOutput},
        tags=TAG,
        summary="Ask for a password-reset e-mail (202 whether or not the address exists)",
    )
    def post(self, request):
        services.password_reset_request(request=request, **_valid(s.EmailInput, request))
        return Response({"detail": "If the address belongs to an account, a reset e-mail is on its way."}, status=202)


class PasswordResetConfirmView(AnonymousAuthView):
    @extend_schema(
        request=s.PasswordResetConfirmInput,
        responses=NO_CONTENT,
        tags=TAG,
        summary="Set a new password with a reset token (signs out everywhere)",
        description="400 `invalid_token`, `token_used`, `token_expired` or `validation_error`.",
    )
    def post(self, request):
        services.password_reset_confirm(request=request, **_valid(s.PasswordResetConfirmInput, request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def password_min_length() -> int:
    """The shortest password AUTH_PASSWORD_VALIDATORS let through (8 when none sets one,
    as forms have always been told)."""
    lengths = [v.min_length for v in get_default_password_validators() if isinstance(v, MinimumLengthValidator)]
    return max(lengths, default=8)


class AuthPolicyView(APIView):
    """Public: what login and registration forms need to know. Authentication runs when a
    token is sent (so `authenticated` tells a client whether its token still works)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={200: s.AuthPolicyOutput}, tags=TAG, summary="Registration and login policy")
    def get(self, request):
        return Response(
            {
                "authenticated": bool(request.user and request.user.is_authenticated),
                "open_registration": settings.OPEN_REGISTRATION,
                "password_min_length": password_min_length(),
                "totp_issuer": settings.TOTP_ISSUER,
                "access_token_ttl_seconds": int(settings.ACCESS_TOKEN_TTL.total_seconds()),
                "refresh_token_ttl_seconds": int(settings.REFRESH_TOKEN_TTL.total_seconds()),
            }
        )


# ---------------------------------------------------------------------------------------
# One's own account


class LogoutView(APIView):
    """Ends a session. Holding its refresh token is enough (a client whose access token
    expired can still log out); without one, the session of the access token ends."""

    permission_classes = [AllowAny]

    @extend_schema(request=s.LogoutInput, responses=NO_CONTENT, tags=TAG, summary="Log out (revoke one session)")
    def post(self, request):
        refresh = _valid(s.LogoutInput, request).get("refresh")
        if request.user and request.user.is_authenticated:
            services.logout(
                user=request.user, refresh=refresh, current_session=_current_session(request), request=request
            )
        elif refresh:
            services.logout_with_refresh(refresh=refresh, request=request)
        else:
            raise NotAuthenticated()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [SelfService]

    @extend_schema(responses={200: s.UserOutput}, tags=TAG, summary="The current user")
    def get(self, request):
        return Response(s.UserOutput(request.user).data)

    @extend_schema(
        request=s.MeUpdateInput, responses={200: s.UserOutput}, tags=TAG, summary="Change one's name or settings"
    )
    def patch(self, request):
        user = services.user_update(
            user=request.user, actor=request.user, request=request, **_valid(s.MeUpdateInput, request)
        )
        return Response(s.UserOutput(user).data)


class PasswordChangeView(AuthThrottled, APIView):
    permission_classes = [SelfService]

    @extend_schema(
        request=s.PasswordChangeInput,
        responses=NO_CONTENT,
        tags=TAG,
        summary="Change one's password (other sessions are signed out)",
        description="400 `validation_error` for a wrong current password (it counts as a failed login) or a "
        "weak new one; 423 `account_locked`.",
    )
    def post(self, request):
        services.password_change(
            user=request.user,
            current_session=_current_session(request),
            request=request,
            **_valid(s.PasswordChangeInput, request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TotpSetupView(APIView):
    permission_classes = [SelfService]

    @extend_schema(
        request=None,
        responses={200: s.TotpSetupOutput},
        tags=TAG,
        summary="Start two-factor enrolment: a secret and its otpauth:// URI (shown once)",
        description="409 `totp_already_enabled`.",
    )
    def post(self, request):
        enrolment = services.totp_setup(user=request.user, request=request)
        return Response(s.TotpSetupOutput({"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}).data)


class TotpConfirmView(APIView):
    permission_classes = [SelfService]

    @extend_schema(
        request=s.TotpCodeInput,
        responses={200: s.UserOutput},
        tags=TAG,
        summary="Switch two-factor authentication on with a code from the app",
        description="400 `invalid_otp`; 409 `totp_not_set_up` or `totp_already_enabled`.",
    )
    def post(self, request):
        user = services.totp_confirm(user=request.user, request=request, **_valid(s.TotpCodeInput, request))
        return Response(s.UserOutput(user).data)


class TotpDisableView(AuthThrottled, APIView):
    permission_classes = [SelfService]

    @extend_schema(
        request=s.TotpCodeInput,
        responses={200: s.UserOutput},
        tags=TAG,
        summary="Switch two-factor authentication off (needs a current code)",
        description="400 `invalid_otp` (counts as a failed login); 409 `totp_not_enabled`; 423 `account_locked`.",
    )
    def post(self, request):
        user = services.totp_disable(user=request.user, request=request, **_valid(s.TotpCodeInput, request))
        return Response(s.UserOutput(user).data)


@extend_schema_view(
    list=extend_schema(
        tags=TAG,
        summary="My live sessions",
        parameters=[OpenApiParameter("include_revoked", OpenApiTypes.BOOL, description="Also ended ones.")],
    ),
    retrieve=extend_schema(tags=TAG, summary="One of my sessions"),
    destroy=extend_schema(tags=TAG, summary="Revoke one of my sessions", responses=NO_CONTENT),
)
class MySessionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    request: SignedInRequest
    permission_classes = [SelfService]
    serializer_class = s.SessionOutput
    filter_backends = [QueryNamesOnly]
    extra_query_params = ("include_revoked",)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Session.objects.none()
        include_revoked = self.action != "list" or self.request.query_params.get("include_revoked") in ("true", "1")
        return selectors.session_list(user=self.request.user, include_revoked=include_revoked)

    def get_serializer_context(self):
        current = _current_session(self.request)
        return {**super().get_serializer_context(), "current_session_id": current.pk if current else None}

    def perform_destroy(self, instance):
        services.session_revoke(
            session=instance, reason=RevokeReason.REVOKED, actor=self.request.user, request=self.request
        )


# ---------------------------------------------------------------------------------------
# Administration


@extend_schema_view(
    list=extend_schema(tags=["users"], summary="Users (search by e-mail or name)"),
    retrieve=extend_schema(tags=["users"]),
    create=extend_schema(
        tags=["users"],
        request=s.AdminUserCreateInput,
        responses={201: s.AdminUserOutput},
        summary="Create a verified user (without a password: a set-password link is e-mailed)",
    ),
    partial_update=extend_schema(
        tags=["users"],
        request=s.AdminUserUpdateInput,
        responses={200: s.AdminUserOutput},
        summary="Change role, is_active, verified, is_staff or name",
        description="role=admin implies is_staff; deactivating signs the user out everywhere; 409 `conflict` "
        "for the last active administrator.",
    ),
)
class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    request: SignedInRequest
    permission_classes = [AdminOnly]
    serializer_class = s.AdminUserOutput
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = UserFilter
    search_fields = ["email", "name"]
    ordering_fields = ["email", "name", "role", "created_at", "last_login"]
    ordering = ["email"]

    filter_backends = [*api_settings.DEFAULT_FILTER_BACKENDS, SearchFilter]  # type: ignore[list-item]  # api_settings imports the dotted paths it is typed as

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        return selectors.user_list(actor=self.request.user)

    def create(self, request, *args, **kwargs):
        user = services.user_create_by_admin(
            actor=request.user, request=request, **_valid(s.AdminUserCreateInput, request)
        )
        return Response(s.AdminUserOutput(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        user = services.user_update(
            user=self.get_object(), actor=request.user, request=request, **_valid(s.AdminUserUpdateInput, request)
        )
        return Response(s.AdminUserOutput(user).data)

    @extend_schema(tags=["users"], request=None, responses={200: s.AdminUserOutput}, summary="Lift a lockout")
    @action(detail=True, methods=["post"])
    def unlock(self, request, pk=None):
        user = services.user_unlock(user=self.get_object(), actor=request.user, request=request)
        return Response(s.AdminUserOutput(user).data)

    @extend_schema(
        tags=["users"], request=None, responses={200: s.RevokedCountOutput}, summary="Sign a user out everywhere"
    )
    @action(detail=True, methods=["post"], url_path="revoke-sessions")
    def revoke_sessions(self, request, pk=None):
        count = services.sessions_revoke_all(
            user=self.get_object(), reason=RevokeReason.ADMIN, actor=request.user, request=request
        )
        return Response({"revoked": count})


@extend_schema_view(
    list=extend_schema(tags=["invitations"]),
    retrieve=extend_schema(tags=["invitations"]),
    create=extend_schema(
        tags=["invitations"],
        request=s.InvitationCreateInput,
        responses={201: s.InvitationCreatedOutput},
        summary="Create an invitation; the response holds its code, shown this once",
    ),
    destroy=extend_schema(tags=["invitations"], responses=NO_CONTENT, summary="Revoke an invitation"),
)
class InvitationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    request: SignedInRequest
    permission_classes = [AdminOnly]
    serializer_class = s.InvitationOutput
    filterset_class = InvitationFilter
    ordering_fields = ["created_at", "expires_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.none()
        return selectors.invitation_list(actor=self.request.user)

    def create(self, request, *args, **kwargs):
        invitation, code = services.invitation_create(
            actor=request.user, request=request, **_valid(s.InvitationCreateInput, request)
        )
        invitation = selectors.invitation_list(actor=request.user).get(pk=invitation.pk)
        return Response(
            s.InvitationCreatedOutput(invitation, context={"code": code}).data, status=status.HTTP_201_CREATED
        )

    def perform_destroy(self, instance):
        services.invitation_revoke(invitation=instance, actor=self.request.user, request=self.request)

    @extend_schema(tags=["invitations"], request=None, responses={200: s.InvitationOutput}, summary="Revoke")
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        invitation = services.invitation_revoke(invitation=self.get_object(), actor=request.user, request=request)
        return Response(s.InvitationOutput(invitation).data)


class SecurityEventPagination(LogCursorPagination):
    ordering = ("-created_at", "-id")


@extend_schema_view(
    list=extend_schema(tags=["security-events"], summary="Security events: all (administrators) or one's own"),
    retrieve=extend_schema(tags=["security-events"]),
)
class SecurityEventViewSet(ReplicaReadMixin, viewsets.ReadOnlyModelViewSet):
    request: SignedInRequest
    permission_classes = [SelfService]
    serializer_class = s.SecurityEventOutput
    filterset_class = SecurityEventFilter
    pagination_class = SecurityEventPagination
    # The cursor fixes the order (newest first); only filters apply.
    filter_backends = [StrictFilterBackend]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SecurityEvent.objects.none()
        return selectors.security_event_list(actor=self.request.user)
