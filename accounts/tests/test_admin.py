"""The admin console for accounts: pages render without secrets, changes and actions go
through the services (audited), invitation codes are shown once, login takes a code."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services, totp
from accounts.models import Invitation, PasswordReset, Session, User
from accounts.tests.conftest import PASSWORD, audit_actions, security_actions

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def populated(admin_user, regular_user, totp_user):
    services.session_create(user=regular_user)
    services.invitation_create(actor=admin_user)
    services._password_reset_issue(user=regular_user, ttl=timedelta(hours=1), actor=None)
    services.security_event_record(action="login_success", status="success", user=regular_user)
    return regular_user


@pytest.mark.parametrize("model", ["user", "session", "invitation", "securityevent", "passwordreset"])
def test_changelists_and_detail_pages_render_without_secrets(console, populated, totp_user, model):
    response = console.get(reverse(f"admin:accounts_{model}_changelist"))
    assert response.status_code == 200
    objects = {
        "user": totp_user,
        "session": Session.objects.first(),
        "invitation": Invitation.objects.first(),
        "securityevent": populated.security_events.first(),
        "passwordreset": PasswordReset.objects.first(),
    }
    detail = console.get(reverse(f"admin:accounts_{model}_change", args=[objects[model].pk]))
    assert detail.status_code == 200
    page = response.content.decode() + detail.content.decode()
    for secret in (
        totp_user.password,
        totp_user.totp_secret,
        totp_user.totp_secret_plain,
        *Session.objects.values_list("refresh_token_hash", flat=True),
        *Invitation.objects.values_list("code_hash", flat=True),
        *PasswordReset.objects.values_list("token_hash", flat=True),
    ):
        assert secret not in page


def test_user_filters_and_search(console, populated):
    User.objects.filter(pk=populated.pk).update(locked_until=timezone.now() + timedelta(minutes=5))
    response = console.get(reverse("admin:accounts_user_changelist") + "?locked=yes&role=user&q=" + populated.email)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_add_user_goes_through_the_service(console, admin_user):
    response = console.post(
        reverse("admin:accounts_user_add"),
        {"email": "Console@Example.com", "name": "C", "role": "viewer", "password": "console passphrase 1"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="console@example.com")
    assert user.verified and user.role == "viewer" and user.check_password("console passphrase 1")
    assert ("user", "create") in audit_actions("user")


def test_change_role_goes_through_the_service(console, regular_user):
    url = reverse("admin:accounts_user_change", args=[regular_user.pk])
    response = console.post(
        url, {"name": regular_user.name, "role": "admin", "is_active": "on", "verified": "on", "is_staff": ""}
    )
    assert response.status_code == 302
    regular_user.refresh_from_db()
    assert regular_user.role == "admin" and regular_user.is_staff  # role=admin implies it
    assert "role_change" in security_actions(regular_user)


def test_refused_change_is_rolled_back_and_explained(console, admin_user):
    url = reverse("admin:accounts_user_change", args=[admin_user.pk])
    response = console.post(url, {"name": "x", "role": "viewer", "is_active": "on", "verified": "on"}, follow=True)
    assert "last active administrator" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.role == "admin" and admin_user.name != "x"


def test_user_actions_unlock_revoke_deactivate(console, regular_user):
    User.objects.filter(pk=regular_user.pk).update(
        failed_login_attempts=5, locked_until=timezone.now() + timedelta(hours=1)
    )
    services.session_create(user=regular_user)
    url = reverse("admin:accounts_user_changelist")
    for action in ("unlock_users", "revoke_sessions", "deactivate_users"):
        response = console.post(url, {"action": action, "_selected_action": [str(regular_user.pk)]})
        assert response.status_code == 302
    regular_user.refresh_from_db()
    assert not regular_user.is_locked() and not regular_user.is_active
    assert not Session.objects.active().filter(user=regular_user).exists()
    assert {"unlock", "sessions_revoked", "user_deactivated"} <= set(security_actions(regular_user))


def test_users_cannot_be_deleted_from_the_console(console, regular_user):
    assert console.get(reverse("admin:accounts_user_delete", args=[regular_user.pk])).status_code == 403


def test_invitation_code_is_shown_once_on_creation(console):
    response = console.post(reverse("admin:accounts_invitation_add"), {"role": "viewer", "max_uses": 2}, follow=True)
    invitation = Invitation.objects.get()
    page = response.content.decode()
    assert "Invitation code (shown once" in page
    code = page.split("copy it now): ")[1].split("<")[0].strip()
    from accounts import tokens

    assert tokens.hash_secret(code) == invitation.code_hash
    assert code not in console.get(reverse("admin:accounts_invitation_change", args=[invitation.pk])).content.decode()
    assert code not in console.get(reverse("admin:accounts_invitation_changelist")).content.decode()


def test_invitation_add_form_validates(console):
    response = console.post(reverse("admin:accounts_invitation_add"), {"role": "user", "max_uses": 0})
    assert response.status_code == 200 and not Invitation.objects.exists()


def test_session_revoke_action(console, regular_user):
    session = services.session_create(user=regular_user).session
    console.post(
        reverse("admin:accounts_session_changelist"), {"action": "revoke", "_selected_action": [str(session.pk)]}
    )
    session.refresh_from_db()
    assert session.revoked_reason == "admin"


def test_security_events_are_read_only(console, populated):
    event = populated.security_events.first()
    assert console.get(reverse("admin:accounts_securityevent_add")).status_code == 403
    assert (
        console.post(reverse("admin:accounts_securityevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )


# --- console login -------------------------------------------------------------------------


def _console_login(email, password, otp=""):
    client = Client()
    response = client.post(reverse("admin:login"), {"username": email, "password": password, "otp": otp})
    return client, response


def test_staff_log_in_with_password(admin_user):
    client, response = _console_login(admin_user.email, PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_non_staff_cannot_log_in_to_the_console(regular_user):
    _, response = _console_login(regular_user.email, PASSWORD)
    assert response.status_code == 200 and "correct email" in response.content.decode().lower()


def test_console_login_with_two_factor(make_user):
    admin = make_user("admin")
    enrolment = services.totp_setup(user=admin)
    services.totp_confirm(user=admin, code=totp.code_at(enrolment.secret, time.time() - totp.STEP_SECONDS))
    _, response = _console_login(admin.email, PASSWORD)
    assert "one-time code" in response.content.decode().lower()
    client, response = _console_login(admin.email, PASSWORD, totp.code_at(enrolment.secret, time.time()))
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_console_login_respects_the_lockout(admin_user, settings):
    settings.LOGIN_MAX_FAILURES = 2
    for _ in range(2):
        _console_login(admin_user.email, "wrong")
    _, response = _console_login(admin_user.email, PASSWORD)
    assert response.status_code == 200 and "locked" in response.content.decode().lower()
    assert "lockout" in security_actions(admin_user)
