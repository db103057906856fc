"""Password reset (request, confirm) and password change."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services, tokens
from accounts.models import PasswordReset, SecurityEvent, Session, User
from accounts.tests.conftest import NEW_PASSWORD, PASSWORD, audit_actions, bearer, login, token_from_mail
from core.testing import assert_error

pytestmark = pytest.mark.django_db


def _request_reset(client, email, run_on_commit):
    with run_on_commit():
        response = client.post("/api/v1/auth/password-reset", {"email": email}, format="json")
    assert response.status_code == 202
    return response


def _confirm(client, token, password=NEW_PASSWORD):
    return client.post("/api/v1/auth/password-reset/confirm", {"token": token, "new_password": password}, format="json")


# --- reset ------------------------------------------------------------------------------


def test_reset_request_is_202_for_known_unknown_and_malformed_addresses(
    anon_client, regular_user, mailoutbox, run_on_commit
):
    known = _request_reset(anon_client, regular_user.email.upper(), run_on_commit)
    unknown = _request_reset(anon_client, "nobody@example.com", run_on_commit)
    malformed = _request_reset(anon_client, "not an address", run_on_commit)
    assert known.json() == unknown.json() == malformed.json()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [regular_user.email]
    assert "reset-password?token=" in mailoutbox[0].body
    reset = PasswordReset.objects.get(user=regular_user)
    assert reset.expires_at - timezone.now() == pytest.approx(timedelta(hours=1), abs=timedelta(seconds=30))
    assert SecurityEvent.objects.filter(action="password_reset_request", status="failure", user=None).count() == 1


def test_reset_confirm_sets_the_password_and_revokes_every_session(
    anon_client, regular_user, mailoutbox, run_on_commit
):
    sessions = [services.session_create(user=regular_user) for _ in range(2)]
    _request_reset(anon_client, regular_user.email, run_on_commit)
    token = token_from_mail(mailoutbox[0])
    assert _confirm(anon_client, token).status_code == 204
    for issued in sessions:
        assert_error(bearer(issued.access).get("/api/v1/auth/me"), 401, "not_authenticated")
    assert_error(login(anon_client, regular_user.email, PASSWORD), 401, "invalid_credentials")
    assert login(anon_client, regular_user.email, NEW_PASSWORD).status_code == 200
    reset = PasswordReset.objects.get(user=regular_user)
    assert reset.used and reset.used_at is not None
    event = SecurityEvent.objects.get(action="password_reset")
    assert event.details == {"sessions_revoked": 2}
    assert ("user", "password_reset") in audit_actions("user")
    # Single use.
    assert_error(_confirm(anon_client, token, "yet another passphrase 7"), 400, "token_used")


def test_reset_also_lifts_a_lockout_and_verifies_the_address(anon_client, make_user, mailoutbox, run_on_commit):
    user = make_user("user", verified=False)
    User.objects.filter(pk=user.pk).update(failed_login_attempts=9, locked_until=timezone.now() + timedelta(hours=1))
    _request_reset(anon_client, user.email, run_on_commit)
    assert _confirm(anon_client, token_from_mail(mailoutbox[0])).status_code == 204
    assert login(anon_client, user.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize("case", ["unknown", "expired", "superseded", "inactive"])
def test_reset_confirm_refusals(anon_client, regular_user, mailoutbox, run_on_commit, case):
    _request_reset(anon_client, regular_user.email, run_on_commit)
    token = token_from_mail(mailoutbox[0])
    expected = {"unknown": "invalid_token", "expired": "token_expired", "superseded": "token_expired"}
    if case == "unknown":
        token = tokens.new_secret()
    elif case == "expired":
        PasswordReset.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "superseded":
        # A newer reset link makes the older one useless.
        PasswordReset.objects.update(created_at=timezone.now() - timedelta(minutes=5))
        _request_reset(anon_client, regular_user.email, run_on_commit)
        assert len(mailoutbox) == 2
    else:
        User.objects.filter(pk=regular_user.pk).update(is_active=False)
    assert_error(_confirm(anon_client, token), 400, expected.get(case, "invalid_token"))
    assert login(anon_client, regular_user.email, NEW_PASSWORD).status_code == 401


def test_weak_new_password_keeps_the_token_usable(anon_client, regular_user, mailoutbox, run_on_commit):
    _request_reset(anon_client, regular_user.email, run_on_commit)
    token = token_from_mail(mailoutbox[0])
    error = assert_error(_confirm(anon_client, token, "12345"), 400, "validation_error")
    assert "new_password" in error["details"]
    assert _confirm(anon_client, token).status_code == 204


def test_reset_mails_are_rate_limited_per_account(anon_client, regular_user, mailoutbox, run_on_commit):
    for _ in range(3):
        _request_reset(anon_client, regular_user.email, run_on_commit)
    assert len(mailoutbox) == 1
    assert SecurityEvent.objects.filter(action="password_reset_request", details__reason="too_soon").count() == 2


# --- change -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "user", "viewer"])
def test_change_password_keeps_this_session_and_revokes_the_others(make_user, role):
    user = make_user(role)
    this = services.session_create(user=user)
    other = services.session_create(user=user)
    client = bearer(this.access)
    response = client.post(
        "/api/v1/auth/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 204, response.content
    assert client.get("/api/v1/auth/me").status_code == 200
    assert_error(bearer(other.access).get("/api/v1/auth/me"), 401, "not_authenticated")
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert Session.objects.get(pk=other.session.pk).revoked_reason == "password_change"
    assert SecurityEvent.objects.get(user=user, action="password_change", status="success").details == {
        "sessions_revoked": 1
    }


def test_wrong_current_password_counts_toward_the_lockout(user_client, regular_user, settings):
    settings.LOGIN_MAX_FAILURES = 2
    body = {"current_password": "wrong", "new_password": NEW_PASSWORD}
    error = assert_error(user_client.post("/api/v1/auth/password", body, format="json"), 400, "validation_error")
    assert "current_password" in error["details"]
    user_client.post("/api/v1/auth/password", body, format="json")
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_error(user_client.post("/api/v1/auth/password", right, format="json"), 423, "account_locked")
    assert SecurityEvent.objects.filter(user=regular_user, action="lockout").count() == 1


def test_weak_new_password_is_refused_and_not_counted(user_client, regular_user):
    body = {"current_password": PASSWORD, "new_password": "abc"}
    error = assert_error(user_client.post("/api/v1/auth/password", body, format="json"), 400, "validation_error")
    assert "new_password" in error["details"]
    regular_user.refresh_from_db()
    assert regular_user.failed_login_attempts == 0 and regular_user.check_password(PASSWORD)


def test_change_password_needs_authentication(anon_client):
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert_error(anon_client.post("/api/v1/auth/password", body, format="json"), 401, "not_authenticated")
