"""GET /security-events/, the shared permission classes per role, throttling, /auth/policy."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIRequestFactory

from accounts import services
from accounts.api.throttles import AuthRateThrottle
from accounts.models import EventStatus, SecurityAction, SecurityEvent
from accounts.tests.conftest import login
from core.permissions import AdminOnly, AdminWritesOthersRead, RoleBasedAccess, SelfService, WritersOnly
from core.testing import assert_error

pytestmark = pytest.mark.django_db


def _event(user, action=SecurityAction.LOGIN_SUCCESS, status=EventStatus.SUCCESS):
    return services.security_event_record(action=action, status=status, user=user)


# --- security events ---------------------------------------------------------------------


def test_admin_sees_every_event_and_filters_them(admin_client_api, regular_user, other_user):
    _event(regular_user)
    _event(other_user, SecurityAction.LOGIN_FAILURE, EventStatus.FAILURE)
    _event(None, SecurityAction.LOGIN_FAILURE, EventStatus.FAILURE)
    body = admin_client_api.get("/api/v1/security-events/").json()
    assert set(body) == {"next", "previous", "results"}
    assert len(body["results"]) == 3
    failures = admin_client_api.get("/api/v1/security-events/?status=failure").json()["results"]
    assert len(failures) == 2
    mine = admin_client_api.get(f"/api/v1/security-events/?user={other_user.pk}").json()["results"]
    assert [e["user"]["email"] for e in mine] == [other_user.email]
    assert_error(admin_client_api.get("/api/v1/security-events/?action=nope"), 400, "validation_error")


@pytest.mark.parametrize("fixture", ["regular_user", "viewer_user"])
def test_non_admins_see_only_their_own_events(request, fixture, api_client_for, other_user):
    me = request.getfixturevalue(fixture)
    mine = _event(me)
    theirs = _event(other_user)
    client = api_client_for(me)
    results = client.get("/api/v1/security-events/").json()["results"]
    assert [e["id"] for e in results] == [str(mine.pk)]
    # Asking for someone else's events by filter yields nothing; by id, a 404.
    assert client.get(f"/api/v1/security-events/?user={other_user.pk}").json()["results"] == []
    assert_error(client.get(f"/api/v1/security-events/{theirs.pk}"), 404, "not_found")
    assert client.get(f"/api/v1/security-events/{mine.pk}").status_code == 200


def test_security_events_are_read_only_and_need_login(anon_client, admin_client_api):
    assert_error(anon_client.get("/api/v1/security-events/"), 401, "not_authenticated")
    assert_error(admin_client_api.post("/api/v1/security-events/", {}, format="json"), 405, "method_not_allowed")


def test_security_event_list_pages_by_cursor_with_constant_queries(admin_client_api, regular_user):
    for _ in range(5):
        _event(regular_user)
    admin_client_api.get("/api/v1/security-events/")

    def fetch(url):
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client_api.get(url)
        assert response.status_code == 200
        return response.json(), len(ctx.captured_queries)

    page, queries = fetch("/api/v1/security-events/?page_size=2")
    assert len(page["results"]) == 2 and page["next"]
    seen = [e["id"] for e in page["results"]]
    while page["next"]:
        page, _ = fetch(page["next"])
        seen += [e["id"] for e in page["results"]]
    assert len(seen) == len(set(seen)) == 5
    for _ in range(20):
        _event(regular_user)
    assert fetch("/api/v1/security-events/?page_size=2")[1] == queries


def test_unknown_security_action_is_refused_in_code_and_in_the_database(regular_user):
    from django.db import IntegrityError

    with pytest.raises(ValueError):
        services.security_event_record(action="made_up", status="success", user=regular_user)
    with pytest.raises(IntegrityError):
        SecurityEvent.objects.create(action="made_up", status="success")


# --- permission classes (used by every app) ----------------------------------------------


@pytest.mark.parametrize(
    ("permission", "method", "expected"),
    [
        (RoleBasedAccess, "GET", {"admin": True, "user": True, "viewer": True, "anon": False}),
        (RoleBasedAccess, "POST", {"admin": True, "user": True, "viewer": False, "anon": False}),
        (AdminOnly, "GET", {"admin": True, "user": False, "viewer": False, "anon": False}),
        (AdminWritesOthersRead, "GET", {"admin": True, "user": True, "viewer": True, "anon": False}),
        (AdminWritesOthersRead, "PATCH", {"admin": True, "user": False, "viewer": False, "anon": False}),
        (WritersOnly, "GET", {"admin": True, "user": True, "viewer": False, "anon": False}),
        (SelfService, "DELETE", {"admin": True, "user": True, "viewer": True, "anon": False}),
    ],
)
def test_permission_classes_per_role(permission, method, expected, admin_user, regular_user, viewer_user, make_user):
    from django.contrib.auth.models import AnonymousUser

    users = {"admin": admin_user, "user": regular_user, "viewer": viewer_user, "anon": AnonymousUser()}
    factory = APIRequestFactory()
    for role, user in users.items():
        request = getattr(factory, method.lower())("/")
        request.user = user
        assert permission().has_permission(request, None) is expected[role], (permission, method, role)
    inactive_admin = make_user("admin", is_active=False)
    request = factory.get("/")
    request.user = inactive_admin
    assert permission().has_permission(request, None) is False


# --- throttling ------------------------------------------------------------------------


def test_auth_endpoints_are_throttled_per_client_address(anon_client, regular_user, monkeypatch):
    monkeypatch.setattr(AuthRateThrottle, "THROTTLE_RATES", {"auth": "3/minute"})
    for _ in range(3):
        login(anon_client, regular_user.email, "wrong")
    response = login(anon_client, regular_user.email)
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # A made-up X-Forwarded-For does not buy a fresh budget...
    forged = anon_client.post(
        "/api/v1/auth/password-reset", {"email": "a@example.com"}, format="json", HTTP_X_FORWARDED_FOR="10.9.8.7"
    )
    assert_error(forged, 429, "throttled")
    # ...but another client address has its own.
    other = anon_client.post(
        "/api/v1/auth/password-reset", {"email": "a@example.com"}, format="json", REMOTE_ADDR="192.0.2.44"
    )
    assert other.status_code == 202


# --- policy --------------------------------------------------------------------------------


def test_policy_is_public_and_tells_whether_a_token_works(anon_client, user_client, settings):
    settings.OPEN_REGISTRATION = True
    body = anon_client.get("/api/v1/auth/policy").json()
    assert body["authenticated"] is False and body["open_registration"] is True
    assert body["password_min_length"] == 10 and body["access_token_ttl_seconds"] == 900
    assert user_client.get("/api/v1/auth/policy").json()["authenticated"] is True


MIN_LENGTH = "django.contrib.auth.password_validation.MinimumLengthValidator"


@pytest.mark.parametrize(
    ("validators", "expected"),
    [
        ([{"NAME": MIN_LENGTH, "OPTIONS": {"min_length": 14}}], 14),
        ([{"NAME": MIN_LENGTH}], 8),  # Django's own default
        ([{"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"}], 8),
        ([], 8),
    ],
)
def test_policy_password_min_length_is_the_validators(anon_client, settings, validators, expected):
    settings.AUTH_PASSWORD_VALIDATORS = validators
    assert anon_client.get("/api/v1/auth/policy").json()["password_min_length"] == expected
