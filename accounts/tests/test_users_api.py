"""/users/ (administrators), /auth/me, and the role rules behind them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import PasswordReset, SecurityEvent, Session, User
from accounts.tests.conftest import NEW_PASSWORD, audit_entries, bearer, login, token_from_mail
from core.testing import assert_error

pytestmark = pytest.mark.django_db


# --- who may -----------------------------------------------------------------------------


@pytest.mark.parametrize(("client_name", "status"), [("user_client", 403), ("viewer_client", 403)])
def test_non_admins_cannot_use_users(request, client_name, status, regular_user):
    client = request.getfixturevalue(client_name)
    assert_error(client.get("/api/v1/users/"), status, "permission_denied")
    assert_error(client.get(f"/api/v1/users/{regular_user.pk}"), status, "permission_denied")
    assert_error(
        client.patch(f"/api/v1/users/{regular_user.pk}", {"role": "admin"}, format="json"), status, "permission_denied"
    )
    assert_error(client.post(f"/api/v1/users/{regular_user.pk}/unlock"), status, "permission_denied")
    assert_error(client.post("/api/v1/users/", {"email": "x@example.com"}, format="json"), status, "permission_denied")
    regular_user.refresh_from_db()
    assert regular_user.role == "user"


def test_anonymous_cannot_use_users(anon_client):
    assert_error(anon_client.get("/api/v1/users/"), 401, "not_authenticated")


# --- list, search, filters ---------------------------------------------------------------


def test_admin_lists_searches_and_filters_users(admin_client_api, make_user):
    make_user("viewer", email="vic@corp.example")
    locked = make_user("user", email="locked@corp.example")
    User.objects.filter(pk=locked.pk).update(locked_until=timezone.now() + timezone.timedelta(minutes=5))
    make_user("user", email="unverified@corp.example", verified=False)

    def emails(query):
        response = admin_client_api.get(f"/api/v1/users/{query}")
        assert response.status_code == 200, response.content
        return [row["email"] for row in response.json()["results"]]

    assert emails("?search=CORP.example") == ["locked@corp.example", "unverified@corp.example", "vic@corp.example"]
    assert emails("?role=viewer") == ["vic@corp.example"]
    assert emails("?locked=true") == ["locked@corp.example"]
    assert "locked@corp.example" not in emails("?locked=false")
    assert emails("?verified=false") == ["unverified@corp.example"]
    assert emails("?search=corp&ordering=-email")[0] == "vic@corp.example"
    row = admin_client_api.get(f"/api/v1/users/{locked.pk}").json()
    assert row["locked"] is True and "password" not in row and "totp_secret" not in row
    assert_error(admin_client_api.get("/api/v1/users/?role=god"), 400, "validation_error")


def test_user_list_costs_constant_queries(admin_client_api, make_user):
    admin_client_api.get("/api/v1/users/")

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client_api.get("/api/v1/users/").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(15):
        make_user("user")
    assert count() == few


# --- create --------------------------------------------------------------------------------


def test_admin_creates_a_verified_user_with_a_password(admin_client_api, anon_client):
    response = admin_client_api.post(
        "/api/v1/users/",
        {"email": "Made@Example.com", "name": "Made", "role": "viewer", "password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "made@example.com" and body["verified"] is True and body["role"] == "viewer"
    assert login(anon_client, "made@example.com", NEW_PASSWORD).status_code == 200


def test_admin_created_user_without_password_gets_a_set_password_link(
    admin_client_api, anon_client, mailoutbox, run_on_commit
):
    with run_on_commit():
        response = admin_client_api.post(
            "/api/v1/users/", {"email": "nopw@example.com", "role": "admin"}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["is_staff"] is True  # role=admin implies it
    assert len(mailoutbox) == 1 and "reset-password?token=" in mailoutbox[0].body
    reset = PasswordReset.objects.get(user__email="nopw@example.com")
    assert reset.expires_at - timezone.now() > timezone.timedelta(days=2)
    confirm = anon_client.post(
        "/api/v1/auth/password-reset/confirm",
        {"token": token_from_mail(mailoutbox[0]), "new_password": NEW_PASSWORD},
        format="json",
    )
    assert confirm.status_code == 204
    assert login(anon_client, "nopw@example.com", NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"email": "bad"}, 400, "validation_error"),
        ({"email": "x@example.com", "role": "root"}, 400, "validation_error"),
        ({"email": "x@example.com", "password": "123"}, 400, "validation_error"),
        ({"email": "x@example.com", "verified": False}, 400, "validation_error"),
        ({"email": "x@example.com", "is_staff": "yes"}, 400, "validation_error"),
    ],
)
def test_user_create_validation(admin_client_api, payload, status, code):
    assert_error(admin_client_api.post("/api/v1/users/", payload, format="json"), status, code)


def test_duplicate_email_is_409(admin_client_api, regular_user):
    response = admin_client_api.post("/api/v1/users/", {"email": regular_user.email.upper()}, format="json")
    assert_error(response, 409, "conflict")


# --- update --------------------------------------------------------------------------------


def test_promote_to_admin_implies_staff_and_is_a_security_event(admin_client_api, admin_user, regular_user):
    response = admin_client_api.patch(f"/api/v1/users/{regular_user.pk}", {"role": "admin"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["role"] == "admin" and body["is_staff"] is True and body["is_superuser"] is True
    event = SecurityEvent.objects.get(action="role_change")
    assert event.user_id == regular_user.pk and event.details == {"from": "user", "to": "admin"}
    audit = audit_entries().get(entity="security", action="role_change")
    assert audit.actor == admin_user.pk and audit.payload["user"] == str(regular_user.pk)
    assert audit.payload["from"] == "user" and audit.payload["to"] == "admin"


def test_demoting_an_admin_drops_console_access(admin_client_api, other_admin):
    body = admin_client_api.patch(f"/api/v1/users/{other_admin.pk}", {"role": "viewer"}, format="json").json()
    assert body["role"] == "viewer" and body["is_staff"] is False and body["is_superuser"] is False
    body = admin_client_api.patch(
        f"/api/v1/users/{other_admin.pk}", {"role": "user", "is_staff": True}, format="json"
    ).json()
    assert body["is_staff"] is True and body["is_superuser"] is False


def test_an_admin_cannot_lose_console_access(admin_client_api, other_admin):
    response = admin_client_api.patch(f"/api/v1/users/{other_admin.pk}", {"is_staff": False}, format="json")
    assert_error(response, 400, "validation_error")


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(admin_client_api, admin_user):
    for change in ({"role": "user"}, {"is_active": False}):
        assert_error(admin_client_api.patch(f"/api/v1/users/{admin_user.pk}", change, format="json"), 409, "conflict")
    admin_user.refresh_from_db()
    assert admin_user.role == "admin" and admin_user.is_active


def test_deactivating_revokes_every_session(admin_client_api, regular_user):
    client = bearer(services.session_create(user=regular_user).access)
    response = admin_client_api.patch(f"/api/v1/users/{regular_user.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert_error(client.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert Session.objects.get(user=regular_user).revoked_reason == "deactivated"
    assert {"user_deactivated", "sessions_revoked"} <= set(
        SecurityEvent.objects.filter(user=regular_user).values_list("action", flat=True)
    )
    response = admin_client_api.patch(f"/api/v1/users/{regular_user.pk}", {"is_active": True}, format="json")
    assert response.json()["is_active"] is True
    assert SecurityEvent.objects.filter(user=regular_user, action="user_activated").exists()


def test_verify_and_staff_flags_are_audited(admin_client_api, make_user):
    user = make_user("user", verified=False)
    body = admin_client_api.patch(
        f"/api/v1/users/{user.pk}", {"verified": True, "is_staff": True}, format="json"
    ).json()
    assert body["verified"] is True and body["is_staff"] is True
    event = SecurityEvent.objects.get(action="user_update", user=user)
    assert event.details["changes"]["verified"] == {"from": False, "to": True}


@pytest.mark.parametrize(
    "payload",
    [{"email": "new@example.com"}, {"password": "x"}, {"role": "owner"}, {"is_active": "false"}, {"settings": {}}],
)
def test_user_patch_refuses_what_it_cannot_change(admin_client_api, regular_user, payload):
    assert_error(
        admin_client_api.patch(f"/api/v1/users/{regular_user.pk}", payload, format="json"), 400, "validation_error"
    )


def test_put_and_delete_are_not_offered(admin_client_api, regular_user):
    assert_error(admin_client_api.put(f"/api/v1/users/{regular_user.pk}", {}, format="json"), 405, "method_not_allowed")
    assert_error(admin_client_api.delete(f"/api/v1/users/{regular_user.pk}"), 405, "method_not_allowed")


def test_unknown_user_is_404(admin_client_api):
    assert_error(admin_client_api.get("/api/v1/users/01234567-89ab-7def-8123-456789abcdef"), 404, "not_found")


def test_unlock_and_revoke_sessions(admin_client_api, regular_user):
    User.objects.filter(pk=regular_user.pk).update(
        failed_login_attempts=5, locked_until=timezone.now() + timezone.timedelta(minutes=10)
    )
    body = admin_client_api.post(f"/api/v1/users/{regular_user.pk}/unlock").json()
    assert body["locked"] is False and body["failed_login_attempts"] == 0
    assert SecurityEvent.objects.filter(user=regular_user, action="unlock").exists()
    client = bearer(services.session_create(user=regular_user).access)
    assert admin_client_api.post(f"/api/v1/users/{regular_user.pk}/revoke-sessions").json() == {"revoked": 1}
    assert_error(client.get("/api/v1/auth/me"), 401, "not_authenticated")


# --- me ------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_name", ["admin_client_api", "user_client", "viewer_client"])
def test_everyone_edits_their_own_name_and_settings(request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.patch("/api/v1/auth/me", {"name": "Renamed", "settings": {"theme": "dark"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed" and response.json()["settings"] == {"theme": "dark"}
    assert client.get("/api/v1/auth/me").json()["settings"] == {"theme": "dark"}


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "admin"},
        {"is_staff": True},
        {"verified": True},
        {"email": "me@example.com"},
        {"settings": ["not", "an", "object"]},
        {"name": 42},
        {"settings": {"blob": "x" * 40_000}},
    ],
)
def test_me_refuses_privileged_or_malformed_changes(user_client, regular_user, payload):
    assert_error(user_client.patch("/api/v1/auth/me", payload, format="json"), 400, "validation_error")
    regular_user.refresh_from_db()
    assert regular_user.role == "user" and not regular_user.is_staff


def test_settings_may_hold_keys_that_look_like_secrets(user_client):
    # Preferences are not put in audit payloads, so their keys cannot trip the secret filter.
    response = user_client.patch("/api/v1/auth/me", {"settings": {"api_token_hint": "abc"}}, format="json")
    assert response.status_code == 200


def test_services_refuse_privileged_changes_by_non_admins(regular_user, other_user):
    from core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.user_update(user=other_user, actor=regular_user, role="admin")
