"""The error envelope, whatever raised the error: never HTML, never a stack trace."""

import pytest
from django.test import override_settings

from core.testing import assert_error


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(anon_client):
    assert_error(anon_client.get("/api/v1/no-such-thing/"), 404, "not_found")


@pytest.mark.django_db
def test_anonymous_request_is_401_with_bearer_challenge(anon_client):
    response = anon_client.get("/api/v1/auth/me")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_garbage_bearer_token_is_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error(anon_client.get("/api/v1/auth/me"), 401, "not_authenticated")


@pytest.mark.django_db
def test_method_not_allowed_is_enveloped(user_client):
    assert_error(user_client.delete("/api/v1/auth/me"), 405, "method_not_allowed")


@pytest.mark.django_db
def test_malformed_json_is_a_400(anon_client):
    response = anon_client.post("/api/v1/auth/login", data=b'{"email": ', content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.django_db
def test_non_json_media_type_is_415(anon_client):
    response = anon_client.post("/api/v1/auth/login", data=b"email=a", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.django_db
def test_nan_is_not_json(anon_client):
    response = anon_client.post("/api/v1/auth/login", data=b'{"email": NaN}', content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.django_db
def test_nul_characters_are_refused(anon_client):
    response = anon_client.post(
        "/api/v1/auth/login", data=b'{"email": "a\\u0000b", "password": "x"}', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")
    assert_error(anon_client.get("/api/v1/auth/me?x=%00"), 400, "validation_error")


@pytest.mark.django_db
@override_settings(API_MAX_BODY_BYTES=1000)
def test_oversized_body_is_refused_before_parsing(anon_client):
    body = b'{"email": "' + b"a" * 2000 + b'"}'
    assert_error(
        anon_client.post("/api/v1/auth/login", data=body, content_type="application/json"), 400, "request_too_large"
    )


@pytest.mark.django_db
def test_wrong_types_are_validation_errors(anon_client):
    response = anon_client.post("/api/v1/auth/login", data={"email": ["x"], "password": 5}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert "email" in error["details"]


@pytest.mark.django_db
def test_database_errors_become_envelopes(user_client, monkeypatch):
    from django.db import OperationalError

    from accounts.api import views

    def boom(self, request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views.MeView, "get", boom)
    response = user_client.get("/api/v1/auth/me")
    assert_error(response, 503, "service_unavailable")
    assert response["Retry-After"]


def test_django_500_under_api_is_json(rf):
    from core.api.errors import handler500

    response = handler500(rf.get("/api/v1/anything"))
    assert response.status_code == 500
    assert b"server_error" in response.content and b"<html" not in response.content


@pytest.mark.django_db
def test_extreme_utc_offsets_in_filters_are_not_database_errors(admin_client_api):
    # Regression (found by fuzzing): +22:00 is valid ISO 8601 but PostgreSQL refuses
    # offsets beyond ±15:59; values are sent as UTC so the query simply runs.
    response = admin_client_api.get("/api/v1/audit-log/", {"ts_after": "2000-01-01T00:00:00+22:00"})
    assert response.status_code == 200, response.content
    response = admin_client_api.get("/api/v1/experiments/", {"created_after": "0409-06-18T13:33:41-22:29"})
    assert response.status_code == 200, response.content
