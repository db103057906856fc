from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts import services
from accounts.api.serializers import LoginInput, TokenOutput, UserOutput


def token_response(issued, code=status.HTTP_200_OK) -> Response:
    return Response(
        TokenOutput(
            {
                "access": issued.access,
                "refresh": issued.refresh,
                "access_expires_at": issued.access_expires_at,
                "user": issued.session.user,
            }
        ).data,
        status=code,
    )


class AuthThrottled:
    """Login, registration, refresh and reset share the THROTTLE_AUTH rate."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"


class LoginView(AuthThrottled, APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=LoginInput, responses={200: TokenOutput}, tags=["auth"])
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.login(request=request, **data.validated_data)
        return token_response(issued)


class MeView(APIView):
    @extend_schema(responses={200: UserOutput}, tags=["auth"])
    def get(self, request):
        return Response(UserOutput(request.user).data)
