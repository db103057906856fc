"""Helpers for tests (imported by test modules; not used at run time)."""

from rest_framework.test import APIClient


def bearer_client(user) -> APIClient:
    """An APIClient that sends a real Bearer access token of a new session of `user`."""
    from accounts.services import session_create

    client = APIClient()
    issued = session_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.access}")
    client.user = user
    client.session_tokens = issued
    return client


def assert_error(response, status: int, code: str) -> dict:
    """The response is the API error envelope with this status and code; returns the error."""
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
