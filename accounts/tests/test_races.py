"""The races the accounts issue names, with real threads on real connections
(transactional tests: every request commits, as in production)."""

import threading
import time
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts import services, totp
from accounts.models import Invitation, SecurityEvent, Session, User
from accounts.services import lockout
from accounts.tests.conftest import NEW_PASSWORD, PASSWORD, login, run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_burst_of_50_wrong_passwords_checks_at_most_max_failures(make_user, settings, monkeypatch):
    """django-axes lets 15-20 of 100 parallel attempts through (its issue #592). Here the
    attempt is counted before the password is checked, in one conditional UPDATE."""
    settings.LOGIN_MAX_FAILURES = 5
    user = make_user("user")
    checked = []
    lock = threading.Lock()
    real = lockout.check_password

    def counting_check(password, encoded, setter=None, *args, **kwargs):
        with lock:
            checked.append(password)
        time.sleep(0.01)  # a slower hasher widens the window a read-then-write counter would leave
        return real(password, encoded, setter, *args, **kwargs)

    monkeypatch.setattr(lockout, "check_password", counting_check)

    responses = run_in_threads(50, lambda i: login(APIClient(), user.email, f"guess-{i}"))

    statuses = sorted(r.status_code for r in responses)
    # Exactly: the first five attempts are reserved, the fifth locks, the rest meet the lock.
    assert len(checked) == settings.LOGIN_MAX_FAILURES, len(checked)
    assert statuses.count(401) == len(checked) and statuses.count(423) == 50 - len(checked)
    user.refresh_from_db()
    assert user.is_locked() and user.failed_login_attempts == settings.LOGIN_MAX_FAILURES
    # Exactly one lockout event, however many attempts raced.
    assert SecurityEvent.objects.filter(user=user, action="lockout").count() == 1
    # The lock holds against the right password too.
    assert login(APIClient(), user.email, PASSWORD).status_code == 423


def test_two_concurrent_refreshes_of_one_token_at_most_one_succeeds(make_user):
    user = make_user("user")
    issued = services.session_create(user=user)

    def refresh(_):
        return APIClient().post("/api/v1/auth/refresh", {"refresh": issued.refresh}, format="json").status_code

    for _ in range(3):  # several rounds: the race window is small
        codes = run_in_threads(2, refresh)
        assert codes.count(200) <= 1, codes
        assert all(code in (200, 401) for code in codes), codes
        issued = services.session_create(user=user)
    # No refresh token ever produced two live sessions.
    rotated = Session.objects.filter(user=user, revoked_reason="rotated")
    assert all(Session.objects.filter(pk=s.replaced_by_id).count() == 1 for s in rotated)


def test_eight_concurrent_refreshes_one_winner(make_user):
    user = make_user("user")
    issued = services.session_create(user=user)
    codes = run_in_threads(
        8, lambda _: APIClient().post("/api/v1/auth/refresh", {"refresh": issued.refresh}, format="json").status_code
    )
    assert codes.count(200) == 1 and codes.count(401) == 7, codes
    # The losers presented a rotated token: treated as theft, every session revoked.
    assert not Session.objects.active().filter(user=user).exists()


def test_ten_registrations_against_max_uses_3_make_exactly_3_users(admin_user):
    invitation, code = services.invitation_create(actor=admin_user, max_uses=3)

    def register(i):
        return APIClient().post(
            "/api/v1/auth/register",
            {"email": f"racer{i}@example.com", "password": "a sturdy passphrase 9", "invitation_code": code},
            format="json",
        )

    responses = run_in_threads(10, register)
    assert sorted(r.status_code for r in responses) == [201] * 3 + [400] * 7
    assert all(r.json()["error"]["code"] == "invitation_used_up" for r in responses if r.status_code == 400)
    assert User.objects.filter(email__startswith="racer").count() == 3
    invitation.refresh_from_db()
    assert invitation.uses == 3


def test_one_reset_token_used_concurrently_sets_one_password(make_user):
    user = make_user("user")
    token = services._password_reset_issue(user=user, ttl=timedelta(hours=1), actor=None)
    passwords = [f"{NEW_PASSWORD} {i}" for i in range(6)]

    def confirm(i):
        return APIClient().post(
            "/api/v1/auth/password-reset/confirm", {"token": token, "new_password": passwords[i]}, format="json"
        )

    responses = run_in_threads(6, confirm)
    codes = sorted(r.status_code for r in responses)
    assert codes == [204] + [400] * 5, codes
    assert all(r.json()["error"]["code"] == "token_used" for r in responses if r.status_code == 400)
    winner = next(i for i, r in enumerate(responses) if r.status_code == 204)
    user.refresh_from_db()
    assert user.check_password(passwords[winner])


def test_one_totp_code_used_by_concurrent_logins_logs_in_once(make_user):
    user = make_user("user")
    enrolment = services.totp_setup(user=user)
    services.totp_confirm(user=user, code=totp.code_at(enrolment.secret, time.time() - totp.STEP_SECONDS))
    code = totp.code_at(enrolment.secret, time.time())
    responses = run_in_threads(6, lambda _: login(APIClient(), user.email, PASSWORD, otp=code))
    codes = sorted(r.status_code for r in responses)
    # One login; the replays are refused (401), and since each counts as a failed
    # attempt, the ones past LOGIN_MAX_FAILURES meet the lock (423).
    assert codes.count(200) == 1, codes
    assert set(codes) - {200} <= {401, 423}, codes


def test_two_admins_demoting_each_other_leave_one_admin(make_user):
    first = make_user("admin")
    second = make_user("admin")
    results = run_in_threads(
        2,
        lambda i: services.user_update(user=(second, first)[i], actor=(first, second)[i], role="user"),
    )
    assert sum(isinstance(r, Exception) for r in results) == 1, results
    assert User.objects.filter(role="admin", is_active=True).count() == 1


def test_concurrent_invitation_revoke_and_use(admin_user):
    """A revoke racing a registration: either the user exists and counted a use, or the
    registration was refused; never a use of a revoked code after the revoke committed."""
    invitation, code = services.invitation_create(actor=admin_user, max_uses=5)

    def act(i):
        if i == 0:
            return services.invitation_revoke(invitation=invitation, actor=admin_user)
        return APIClient().post(
            "/api/v1/auth/register",
            {"email": f"revoke-race{i}@example.com", "password": "a sturdy passphrase 9", "invitation_code": code},
            format="json",
        )

    results = run_in_threads(4, act)
    invitation = Invitation.objects.get(pk=invitation.pk)
    created = sum(1 for r in results[1:] if r.status_code == 201)
    assert invitation.revoked_at is not None
    assert invitation.uses == created == User.objects.filter(email__startswith="revoke-race").count()
