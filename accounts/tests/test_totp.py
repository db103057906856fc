"""Two-factor authentication: enrolment, login with a code, replay, lockout accounting,
disabling, sealed storage and master-key rotation."""

import base64
import os
import time

import pytest

from accounts import services, totp
from accounts.models import SecurityEvent, User, totp_context
from accounts.tests.conftest import PASSWORD, audit_actions, bearer, login
from core import crypto
from core.testing import assert_error

pytestmark = pytest.mark.django_db


def _now_code(secret, offset_steps=0):
    return totp.code_at(secret, time.time() + offset_steps * totp.STEP_SECONDS)


# --- enrolment --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "user", "viewer"])
def test_setup_then_confirm_switches_two_factor_on(make_user, role):
    user = make_user(role)
    client = bearer(services.session_create(user=user).access)
    response = client.post("/api/v1/auth/totp/setup")
    assert response.status_code == 200, response.content
    body = response.json()
    secret = body["secret"]
    assert len(secret) == 32 and body["otpauth_uri"].startswith("otpauth://totp/Tristate:")
    assert f"secret={secret}" in body["otpauth_uri"] and "issuer=Tristate" in body["otpauth_uri"]
    user.refresh_from_db()
    assert not user.totp_enabled
    assert user.totp_secret.startswith("ENC4:") and secret not in user.totp_secret
    assert crypto.open_box(user.totp_secret, context=totp_context(user.pk)) == secret

    assert_error(client.post("/api/v1/auth/totp/confirm", {"code": "000000"}, format="json"), 400, "invalid_otp")
    response = client.post("/api/v1/auth/totp/confirm", {"code": _now_code(secret)}, format="json")
    assert response.status_code == 200 and response.json()["totp_enabled"] is True
    assert SecurityEvent.objects.filter(user=user, action="totp_enabled").count() == 1
    assert ("user", "totp_setup") in audit_actions("user") and ("user", "totp_enable") in audit_actions("user")
    assert_error(client.post("/api/v1/auth/totp/setup"), 409, "totp_already_enabled")


def test_confirm_before_setup_is_409(user_client):
    assert_error(
        user_client.post("/api/v1/auth/totp/confirm", {"code": "123456"}, format="json"), 409, "totp_not_set_up"
    )


def test_a_second_setup_replaces_the_pending_secret(user_client, regular_user):
    first = user_client.post("/api/v1/auth/totp/setup").json()["secret"]
    second = user_client.post("/api/v1/auth/totp/setup").json()["secret"]
    assert first != second
    assert_error(
        user_client.post("/api/v1/auth/totp/confirm", {"code": _now_code(first)}, format="json"), 400, "invalid_otp"
    )
    assert user_client.post("/api/v1/auth/totp/confirm", {"code": _now_code(second)}, format="json").status_code == 200


def test_totp_endpoints_need_authentication(anon_client):
    for path in ("setup", "confirm", "disable"):
        assert_error(anon_client.post(f"/api/v1/auth/totp/{path}", {}, format="json"), 401, "not_authenticated")


# --- login ------------------------------------------------------------------------------


def test_login_needs_the_code_once_two_factor_is_on(anon_client, totp_user):
    error = assert_error(login(anon_client, totp_user.email), 401, "otp_required")
    assert error["message"]
    # Asking for the code is not a failed attempt.
    totp_user.refresh_from_db()
    assert totp_user.failed_login_attempts == 0
    response = login(anon_client, totp_user.email, otp=_now_code(totp_user.totp_secret_plain))
    assert response.status_code == 200, response.content


def test_codes_as_typed_with_spaces_are_accepted(anon_client, totp_user):
    code = _now_code(totp_user.totp_secret_plain)
    assert login(anon_client, totp_user.email, otp=f"{code[:3]} {code[3:]}").status_code == 200


def test_a_code_cannot_be_used_twice(anon_client, totp_user):
    code = _now_code(totp_user.totp_secret_plain)
    assert login(anon_client, totp_user.email, otp=code).status_code == 200
    replay = login(anon_client, totp_user.email, otp=code)
    error = assert_error(replay, 401, "invalid_credentials")
    assert "otp" in error["details"]
    assert SecurityEvent.objects.filter(user=totp_user, action="totp_failure").count() == 1
    # The next step's code works (within the drift window).
    assert login(anon_client, totp_user.email, otp=_now_code(totp_user.totp_secret_plain, 1)).status_code == 200


def test_codes_outside_the_drift_window_are_refused(anon_client, totp_user):
    stale = _now_code(totp_user.totp_secret_plain, -3)
    assert_error(login(anon_client, totp_user.email, otp=stale), 401, "invalid_credentials")


def test_wrong_codes_count_as_failed_logins(anon_client, totp_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert_error(login(anon_client, totp_user.email, otp="000000"), 401, "invalid_credentials")
    good = _now_code(totp_user.totp_secret_plain)
    assert_error(login(anon_client, totp_user.email, otp=good), 423, "account_locked")
    assert SecurityEvent.objects.filter(user=totp_user, action="lockout").count() == 1


def test_wrong_password_with_a_good_code_does_not_burn_the_code(anon_client, totp_user):
    code = _now_code(totp_user.totp_secret_plain)
    assert_error(login(anon_client, totp_user.email, "wrong", otp=code), 401, "invalid_credentials")
    assert login(anon_client, totp_user.email, otp=code).status_code == 200


# --- disable ----------------------------------------------------------------------------


def test_disable_needs_a_valid_code(totp_user):
    client = bearer(services.session_create(user=totp_user).access)
    assert_error(client.post("/api/v1/auth/totp/disable", {"code": "000000"}, format="json"), 400, "invalid_otp")
    totp_user.refresh_from_db()
    assert totp_user.totp_enabled and totp_user.failed_login_attempts == 1
    response = client.post("/api/v1/auth/totp/disable", {"code": _now_code(totp_user.totp_secret_plain)}, format="json")
    assert response.status_code == 200 and response.json()["totp_enabled"] is False
    totp_user.refresh_from_db()
    assert totp_user.totp_secret == "" and totp_user.failed_login_attempts == 0
    assert SecurityEvent.objects.filter(user=totp_user, action="totp_disabled").count() == 1
    assert login(client, totp_user.email).status_code == 200  # no code needed any more
    assert_error(client.post("/api/v1/auth/totp/disable", {"code": "123456"}, format="json"), 409, "totp_not_enabled")


def test_guessing_disable_codes_locks_the_account(totp_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    client = bearer(services.session_create(user=totp_user).access)
    for _ in range(3):
        client.post("/api/v1/auth/totp/disable", {"code": "000000"}, format="json")
    good = {"code": _now_code(totp_user.totp_secret_plain)}
    assert_error(client.post("/api/v1/auth/totp/disable", good, format="json"), 423, "account_locked")
    totp_user.refresh_from_db()
    assert totp_user.totp_enabled


# --- storage ----------------------------------------------------------------------------


def test_sealed_secret_is_bound_to_its_row(totp_user, other_user):
    with pytest.raises(crypto.DecryptionError):
        crypto.open_box(totp_user.totp_secret, context=totp_context(other_user.pk))


def test_secrets_survive_master_key_rotation(anon_client, totp_user, settings):
    old_keyring = settings.KMS_MASTER_KEYS
    new_key = base64.b64encode(os.urandom(32)).decode()
    settings.KMS_MASTER_KEYS = f"k2:{new_key},{old_keyring}"
    assert services.totp_secrets_rewrap() == 1
    totp_user.refresh_from_db()
    assert crypto.box_key_id(totp_user.totp_secret) == "k2"
    assert services.totp_secrets_rewrap() == 0  # idempotent
    # Only the new key is needed from now on.
    settings.KMS_MASTER_KEYS = f"k2:{new_key}"
    assert login(anon_client, totp_user.email, PASSWORD, otp=_now_code(totp_user.totp_secret_plain)).status_code == 200


def test_code_normalization():
    assert totp.normalize_code("123 456") == "123456"
    assert totp.normalize_code("123-456") == "123456"
    for bad in ("12345", "1234567", "abcdef", None, 123456, "１２３４５６"):
        assert totp.normalize_code(bad) is None


def test_users_without_two_factor_ignore_the_otp_field(anon_client, regular_user):
    assert login(anon_client, regular_user.email, otp="000000").status_code == 200
    assert User.objects.get(pk=regular_user.pk).totp_last_step is None
