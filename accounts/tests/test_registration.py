"""Invitations (admin), registration with and without a code, e-mail verification."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services, tokens
from accounts.models import Invitation, Role, SecurityEvent, User
from accounts.tests.conftest import audit_actions, login, token_from_mail
from core.testing import assert_error

pytestmark = pytest.mark.django_db

STRONG = "a sturdy passphrase 9"


def _register(client, code=None, email="new.person@example.com", **extra):
    body = {"email": email, "password": STRONG, "name": "New Person", **extra}
    if code is not None:
        body["invitation_code"] = code
    return client.post("/api/v1/auth/register", body, format="json")


def _invite(admin, **kwargs):
    return services.invitation_create(actor=admin, **kwargs)


# --- invitations API --------------------------------------------------------------------


def test_admin_creates_an_invitation_and_sees_the_code_once(admin_client_api, admin_user):
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    response = admin_client_api.post(
        "/api/v1/invitations/", {"role": "viewer", "max_uses": 3, "expires_at": expires}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["role"] == "viewer" and body["max_uses"] == 3 and body["uses"] == 0 and body["status"] == "active"
    assert body["created_by"] == {"id": str(admin_user.pk), "email": admin_user.email}
    code = body["code"]
    assert len(code) >= 43
    invitation = Invitation.objects.get(pk=body["id"])
    assert invitation.code_hash == tokens.hash_secret(code)
    assert ("invitation", "create") in audit_actions("invitation")
    # Never again.
    assert "code" not in admin_client_api.get(f"/api/v1/invitations/{invitation.pk}").json()
    assert all("code" not in row for row in admin_client_api.get("/api/v1/invitations/").json()["results"])


def test_invitation_defaults(admin_client_api):
    body = admin_client_api.post("/api/v1/invitations/", {}, format="json").json()
    assert body["role"] == "user" and body["max_uses"] == 1
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=6, hours=23) < expires - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize(
    "payload",
    [
        {"role": "superuser"},
        {"max_uses": 0},
        {"max_uses": "3"},
        {"max_uses": 10_001},
        {"expires_at": "2000-01-01T00:00:00Z"},
        {"expires_at": "2099-01-01T00:00:00Z"},
        {"expires_at": "tomorrow"},
        {"uses": 5},
    ],
)
def test_invitation_input_is_validated(admin_client_api, payload):
    assert_error(admin_client_api.post("/api/v1/invitations/", payload, format="json"), 400, "validation_error")
    assert not Invitation.objects.exists()


@pytest.mark.parametrize("client_name", ["user_client", "viewer_client"])
def test_only_admins_manage_invitations(request, client_name, admin_user):
    client = request.getfixturevalue(client_name)
    invitation, _ = _invite(admin_user)
    assert_error(client.get("/api/v1/invitations/"), 403, "permission_denied")
    assert_error(client.post("/api/v1/invitations/", {}, format="json"), 403, "permission_denied")
    assert_error(client.delete(f"/api/v1/invitations/{invitation.pk}"), 403, "permission_denied")


def test_anonymous_cannot_see_invitations(anon_client):
    assert_error(anon_client.get("/api/v1/invitations/"), 401, "not_authenticated")


def test_revoke_an_invitation(admin_client_api, admin_user, anon_client):
    invitation, code = _invite(admin_user)
    assert admin_client_api.delete(f"/api/v1/invitations/{invitation.pk}").status_code == 204
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert admin_client_api.post(f"/api/v1/invitations/{invitation.pk}/revoke").json()["status"] == "revoked"
    assert ("invitation", "revoke") in audit_actions("invitation")
    assert_error(_register(anon_client, code), 400, "invitation_revoked")


def test_invitation_list_filters_and_costs_constant_queries(admin_client_api, admin_user):
    _invite(admin_user, role=Role.VIEWER)
    expired, _ = _invite(admin_user)
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    admin_client_api.get("/api/v1/invitations/")

    def fetch(query=""):
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client_api.get(f"/api/v1/invitations/{query}")
        assert response.status_code == 200
        return response.json(), len(ctx.captured_queries)

    body, queries = fetch()
    assert body["count"] == 2
    assert fetch("?status=expired")[0]["count"] == 1
    assert fetch("?status=active&role=viewer")[0]["count"] == 1
    for _ in range(8):
        _invite(admin_user)
    assert fetch()[1] == queries
    assert_error(admin_client_api.get("/api/v1/invitations/?status=nonsense"), 400, "validation_error")


# --- registration -----------------------------------------------------------------------


def test_register_with_a_code_gives_its_role_and_sends_the_verification_mail(
    anon_client, admin_user, mailoutbox, run_on_commit
):
    invitation, code = _invite(admin_user, role=Role.VIEWER, max_uses=2)
    with run_on_commit():
        response = _register(anon_client, code, email="New.Person@Example.com")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new.person@example.com" and body["role"] == "viewer" and body["verified"] is False
    invitation.refresh_from_db()
    assert invitation.uses == 1
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.person@example.com"]
    assert "verify-email?token=" in mailoutbox[0].body
    event = SecurityEvent.objects.get(action="register")
    assert event.details == {"invitation": str(invitation.pk), "role": "viewer"}
    assert ("invitation", "use") in audit_actions("invitation")


@pytest.mark.parametrize(
    ("state", "code"),
    [("unknown", "invitation_invalid"), ("expired", "invitation_expired"), ("used_up", "invitation_used_up")],
)
def test_bad_invitation_codes_have_distinct_errors(anon_client, admin_user, state, code):
    invitation, secret = _invite(admin_user, max_uses=1)
    if state == "unknown":
        secret = tokens.new_secret()
    elif state == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        assert _register(anon_client, secret, email="first@example.com").status_code == 201
    error = assert_error(_register(anon_client, secret), 400, code)
    assert "invitation_code" in error["details"]
    assert not User.objects.filter(email="new.person@example.com").exists()


def test_registration_without_a_code_is_closed_unless_open(anon_client, settings):
    settings.OPEN_REGISTRATION = False
    assert_error(_register(anon_client), 400, "invitation_required")
    settings.OPEN_REGISTRATION = True
    response = _register(anon_client)
    assert response.status_code == 201 and response.json()["role"] == "user"


def test_a_failed_registration_gives_the_invitation_use_back(anon_client, admin_user, regular_user):
    invitation, code = _invite(admin_user, max_uses=1)
    assert_error(_register(anon_client, code, email=regular_user.email.upper()), 409, "conflict")
    assert_error(_register(anon_client, code, password="short"), 400, "validation_error")
    invitation.refresh_from_db()
    assert invitation.uses == 0
    assert _register(anon_client, code).status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email", "password": STRONG},
        {"email": "x@example.com", "password": "password1"},
        {"email": "x@example.com", "password": 12345678901},
        {"email": "x@example.com"},
        {"email": "x@example.com", "password": STRONG, "name": "n" * 201},
    ],
)
def test_registration_input_is_validated(anon_client, settings, payload):
    settings.OPEN_REGISTRATION = True
    assert_error(anon_client.post("/api/v1/auth/register", payload, format="json"), 400, "validation_error")
    assert not User.objects.exists()


# --- e-mail verification -----------------------------------------------------------------


def _registered(anon_client, mailoutbox, run_on_commit, settings):
    settings.OPEN_REGISTRATION = True
    with run_on_commit():
        assert _register(anon_client).status_code == 201
    return User.objects.get(email="new.person@example.com"), token_from_mail(mailoutbox[-1])


def test_verify_email_then_login(anon_client, mailoutbox, run_on_commit, settings):
    user, token = _registered(anon_client, mailoutbox, run_on_commit, settings)
    assert_error(login(anon_client, user.email, STRONG), 403, "email_unverified")
    response = anon_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert response.status_code == 200 and response.json() == {"verified": True, "email": user.email}
    assert login(anon_client, user.email, STRONG).status_code == 200
    assert ("user", "verify_email") in audit_actions("user")
    # Idempotent.
    assert anon_client.post("/api/v1/auth/verify-email", {"token": token}, format="json").status_code == 200
    assert SecurityEvent.objects.filter(action="email_verified").count() == 1


def test_verification_token_expires(anon_client, mailoutbox, run_on_commit, settings):
    _, token = _registered(anon_client, mailoutbox, run_on_commit, settings)
    with time_machine.travel(timezone.now() + settings.EMAIL_VERIFICATION_TTL + timedelta(minutes=1)):
        response = anon_client.post("/api/v1/auth/verify-email", {"token": token}, format="json")
    assert_error(response, 400, "token_expired")


def test_verification_token_is_bound_to_the_address(anon_client, mailoutbox, run_on_commit, settings):
    user, token = _registered(anon_client, mailoutbox, run_on_commit, settings)
    User.objects.filter(pk=user.pk).update(email="changed@example.com")
    assert_error(anon_client.post("/api/v1/auth/verify-email", {"token": token}, format="json"), 400, "invalid_token")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_error(
        anon_client.post("/api/v1/auth/verify-email", {"token": tampered}, format="json"), 400, "invalid_token"
    )


def test_resend_verification_is_202_for_any_address(anon_client, mailoutbox, run_on_commit, settings, regular_user):
    user, _ = _registered(anon_client, mailoutbox, run_on_commit, settings)
    mailoutbox.clear()
    for address in (user.email, "nobody@example.com", regular_user.email, "garbage"):
        with run_on_commit():
            response = anon_client.post("/api/v1/auth/verify-email/resend", {"email": address}, format="json")
        assert response.status_code == 202
    # Only the unverified account gets a mail.
    assert [m.to for m in mailoutbox] == [[user.email]]


def test_a_failing_mail_server_does_not_fail_registration(anon_client, settings, run_on_commit, monkeypatch):
    from accounts import emails

    settings.OPEN_REGISTRATION = True

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(emails, "send_mail", broken)
    with run_on_commit():
        response = _register(anon_client)
    assert response.status_code == 201
    assert User.objects.filter(email="new.person@example.com").exists()
