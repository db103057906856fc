"""Bearer access-token authentication for the API.

Access tokens are short-lived and bound to a login session (accounts.Session): every
request checks the session row, so revoking a session stops its access token at once.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed


class BearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: expected 'Bearer <token>'.")
        from accounts.tokens import resolve_access_token

        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Access token is invalid, expired or revoked.") from None
        session = resolve_access_token(token)
        if session is None:
            raise AuthenticationFailed("Access token is invalid, expired or revoked.")
        return session.user, session

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents BearerAuthentication in the OpenAPI document (security scheme bearerAuth)."""

    target_class = BearerAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Access token from POST /api/v1/auth/login."}
