"""Bearer access-token authentication for the API.

Access tokens are short-lived and bound to a login session (accounts.Session): every
request checks the session row, so revoking a session stops its access token at once.
"""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from core.db import replica_state


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
        # For read-your-writes with a replica (core.db.routers): note the login for this
        # request, and keep it on the primary if it wrote recently.
        replica_state.note_login(session)
        replica_state.note_last_write(session.last_write_at)
        return session.user, session

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
