"""POST /auth/login: credentials, lockout, enumeration resistance, legacy hashes, the
security events and audit entries every outcome leaves."""

from datetime import timedelta

import bcrypt
import pytest
from django.utils import timezone

from accounts.hashers import legacy_bcrypt_to_django
from accounts.models import SecurityEvent, Session, User
from accounts.services import lockout
from accounts.tests.conftest import PASSWORD, audit_actions, bearer, login, security_actions
from core.testing import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["admin", "user", "viewer"])
def test_login_returns_tokens_that_authenticate(anon_client, make_user, role):
    user = make_user(role)
    response = login(anon_client, user.email.upper())  # e-mails are case-insensitive
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"access", "refresh", "access_expires_at", "user"}
    assert body["user"]["id"] == str(user.pk) and body["user"]["role"] == role
    assert len(body["refresh"]) >= 43  # 256 bits, base64url
    me = bearer(body["access"]).get("/api/v1/auth/me")
    assert me.status_code == 200 and me.json()["email"] == user.email
    session = Session.objects.get(user=user)
    assert session.device_info["ip"] == "127.0.0.1"
    user.refresh_from_db()
    assert user.last_login is not None
    assert security_actions(user) == ["login_success"]
    assert ("security", "login_success") in audit_actions() and ("session", "create") in audit_actions()


def test_wrong_password_and_unknown_email_look_the_same(anon_client, regular_user, monkeypatch):
    checks = []
    real = lockout.check_password
    monkeypatch.setattr(lockout, "check_password", lambda *a, **k: checks.append(1) or real(*a, **k))

    wrong = login(anon_client, regular_user.email, "not the password")
    unknown = login(anon_client, "nobody@example.com", "not the password")

    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    # The same answer, but for the request id each response carries.
    assert {**wrong.json()["error"], "request_id": None} == {**unknown.json()["error"], "request_id": None}
    # The hasher ran for the unknown address too: the same work, the same time.
    assert len(checks) == 2
    unknown_event = SecurityEvent.objects.get(user=None)
    assert unknown_event.action == "login_failure" and unknown_event.details == {"reason": "unknown_email"}
    assert unknown_event.resource == "nobody@example.com"


def test_failures_lock_the_account_then_even_the_right_password_gets_423(anon_client, regular_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 600
    for _ in range(3):
        assert_error(login(anon_client, regular_user.email, "wrong"), 401, "invalid_credentials")
    response = login(anon_client, regular_user.email, PASSWORD)
    error = assert_error(response, 423, "account_locked")
    assert 590 <= int(response["Retry-After"]) <= 601
    assert error["details"]["retry_after"] == int(response["Retry-After"])
    regular_user.refresh_from_db()
    assert regular_user.is_locked() and regular_user.failed_login_attempts == 3
    assert security_actions(regular_user) == [
        "login_failure",
        "login_failure",
        "login_failure",
        "lockout",
        "login_locked",
    ]
    assert ("security", "lockout") in audit_actions()


def test_lock_expires_and_a_fresh_count_starts(anon_client, regular_user, settings):
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        login(anon_client, regular_user.email, "wrong")
    User.objects.filter(pk=regular_user.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert_error(login(anon_client, regular_user.email, "wrong"), 401, "invalid_credentials")
    regular_user.refresh_from_db()
    assert regular_user.failed_login_attempts == 1 and not regular_user.is_locked()
    assert login(anon_client, regular_user.email).status_code == 200


def test_success_resets_the_failure_count(anon_client, regular_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    login(anon_client, regular_user.email, "wrong")
    login(anon_client, regular_user.email, "wrong")
    assert login(anon_client, regular_user.email).status_code == 200
    regular_user.refresh_from_db()
    assert regular_user.failed_login_attempts == 0
    login(anon_client, regular_user.email, "wrong")
    login(anon_client, regular_user.email, "wrong")
    assert login(anon_client, regular_user.email).status_code == 200  # never reached 3 in a row


def test_unverified_user_gets_403_only_with_the_right_password(anon_client, make_user):
    user = make_user("user", verified=False)
    assert_error(login(anon_client, user.email, "wrong"), 401, "invalid_credentials")
    assert_error(login(anon_client, user.email), 403, "email_unverified")
    assert not Session.objects.filter(user=user).exists()


def test_inactive_user_cannot_log_in(anon_client, make_user):
    user = make_user("user", is_active=False)
    assert_error(login(anon_client, user.email), 401, "invalid_credentials")
    assert SecurityEvent.objects.get(user=user).details["reason"] == "inactive"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": "a@example.com"},
        {"email": 5, "password": "x"},
        {"email": "a@example.com", "password": ["x"]},
        {"email": "a@example.com", "password": "x", "otp": 123456},
    ],
)
def test_malformed_login_bodies_are_400(anon_client, payload):
    assert_error(anon_client.post("/api/v1/auth/login", payload, format="json"), 400, "validation_error")


def test_stale_bearer_header_does_not_block_login(anon_client, regular_user):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer expired.garbage.token")
    assert login(anon_client, regular_user.email).status_code == 200


def test_legacy_bcrypt_hash_verifies_and_is_upgraded_to_argon2id(anon_client, make_user, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "accounts.hashers.BCryptPasswordHasher",
    ]
    legacy = bcrypt.hashpw(b"legacy secret 123", bcrypt.gensalt(4)).decode()
    user = make_user("user", password=None, password_hash=legacy_bcrypt_to_django(legacy))
    assert user.password.startswith("bcrypt$$2b$")

    assert_error(login(anon_client, user.email, "wrong"), 401, "invalid_credentials")
    user.refresh_from_db()
    assert user.password.startswith("bcrypt$")  # a failed login upgrades nothing

    assert login(anon_client, user.email, "legacy secret 123").status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert ("user", "password_rehash") in audit_actions("user")
    assert login(anon_client, user.email, "legacy secret 123").status_code == 200


def test_legacy_bcrypt_with_a_password_over_72_bytes(anon_client, make_user, settings):
    """bcrypt 5 raises on > 72 bytes; legacy hashes were made from the first 72."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "accounts.hashers.BCryptPasswordHasher",
    ]
    long_password = "é" * 50  # 100 bytes in UTF-8
    legacy = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
    user = make_user("user", password=None, password_hash=legacy_bcrypt_to_django(legacy))
    assert_error(login(anon_client, user.email, "x" * 100), 401, "invalid_credentials")
    assert login(anon_client, user.email, long_password).status_code == 200


def test_legacy_hash_helper_refuses_what_is_not_bcrypt():
    with pytest.raises(ValueError):
        legacy_bcrypt_to_django("md5$abc$def")
    assert legacy_bcrypt_to_django("$2a$" + "x" * 56) == "bcrypt$$2a$" + "x" * 56


def test_production_hasher_is_argon2id_for_new_passwords(make_user, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
    user = make_user("user", password="some long passphrase")
    assert user.password.startswith("argon2$argon2id$")


def test_client_ip_trusts_forwarded_for_only_when_configured(anon_client, regular_user, settings):
    anon_client.post(
        "/api/v1/auth/login",
        {"email": regular_user.email, "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
    )
    assert SecurityEvent.objects.latest("created_at").ip_address == "127.0.0.1"
    settings.TRUST_X_FORWARDED_FOR = True
    # The client wrote the left part; our balancer appended the right-most entry.
    anon_client.post(
        "/api/v1/auth/login",
        {"email": regular_user.email, "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9",
        HTTP_USER_AGENT="pytest-agent",
    )
    event = SecurityEvent.objects.latest("created_at")
    assert event.ip_address == "203.0.113.9" and event.user_agent == "pytest-agent"
    anon_client.post(
        "/api/v1/auth/login",
        {"email": regular_user.email, "password": PASSWORD},
        format="json",
        HTTP_X_FORWARDED_FOR="not-an-ip",
    )
    assert SecurityEvent.objects.latest("created_at").ip_address == "127.0.0.1"
