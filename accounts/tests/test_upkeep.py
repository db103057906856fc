"""Purging what can no longer be used, and the operator commands."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, PasswordReset, Session, User
from accounts.tests.conftest import audit_actions, bearer, security_actions

pytestmark = pytest.mark.django_db


def test_purge_deletes_only_what_can_no_longer_be_used(admin_user, regular_user):
    now = timezone.now()
    live = services.session_create(user=regular_user)
    old = services.session_create(user=regular_user)
    rotated_into = services.session_create(user=regular_user)
    Session.objects.filter(pk=old.session.pk).update(expires_at=now - timedelta(days=1))
    # A live session pointing at an expired one it replaced must survive the purge.
    Session.objects.filter(pk=rotated_into.session.pk).update(replaced_by=old.session)
    services._password_reset_issue(user=regular_user, ttl=timedelta(hours=1), actor=None)
    used = PasswordReset.objects.get()
    PasswordReset.objects.filter(pk=used.pk).update(used=True, used_at=now)
    services._password_reset_issue(user=admin_user, ttl=timedelta(hours=1), actor=None)
    fresh_invitation, _ = services.invitation_create(actor=admin_user)
    stale_invitation, _ = services.invitation_create(actor=admin_user)
    Invitation.objects.filter(pk=stale_invitation.pk).update(expires_at=now - timedelta(seconds=1))

    counts = services.accounts_purge_expired(dry_run=True)
    assert counts == {"sessions": 1, "resets": 1, "invitations": 1}
    assert Session.objects.count() == 3  # dry run

    assert services.accounts_purge_expired() == counts
    assert set(Session.objects.values_list("pk", flat=True)) == {live.session.pk, rotated_into.session.pk}
    assert Session.objects.get(pk=rotated_into.session.pk).replaced_by_id is None
    assert PasswordReset.objects.get().user_id == admin_user.pk
    assert list(Invitation.objects.values_list("pk", flat=True)) == [fresh_invitation.pk]
    assert ("accounts", "purge_expired") in audit_actions("accounts")
    assert services.accounts_purge_expired() == {"sessions": 0, "resets": 0, "invitations": 0}
    assert bearer(live.access).get("/api/v1/auth/me").status_code == 200


def test_unlock_user_command(regular_user, capsys):
    User.objects.filter(pk=regular_user.pk).update(
        failed_login_attempts=5, locked_until=timezone.now() + timedelta(hours=1)
    )
    call_command("unlock_user", regular_user.email.upper())
    assert "unlocked" in capsys.readouterr().out
    regular_user.refresh_from_db()
    assert not regular_user.is_locked() and regular_user.failed_login_attempts == 0
    assert "unlock" in security_actions(regular_user)
    with pytest.raises(CommandError):
        call_command("unlock_user", "nobody@example.com")


def test_revoke_sessions_command(regular_user, capsys):
    client = bearer(services.session_create(user=regular_user).access)
    call_command("revoke_sessions", regular_user.email)
    assert "revoked 1 session" in capsys.readouterr().out
    assert client.get("/api/v1/auth/me").status_code == 401
    with pytest.raises(CommandError):
        call_command("revoke_sessions", "nobody@example.com")


def test_purge_goes_in_audited_batches(regular_user):
    now = timezone.now()
    issued = [services.session_create(user=regular_user) for _ in range(7)]
    live = services.session_create(user=regular_user)
    Session.objects.filter(pk__in=[i.session.pk for i in issued]).update(expires_at=now - timedelta(hours=1))
    # A live session referring to an expired one, and an expired one referring to another.
    Session.objects.filter(pk=live.session.pk).update(replaced_by=issued[6].session)
    Session.objects.filter(pk=issued[0].session.pk).update(replaced_by=issued[5].session)
    for _ in range(3):
        services._password_reset_issue(user=regular_user, ttl=timedelta(hours=1), actor=None)
    PasswordReset.objects.update(used=True, used_at=now)

    assert services.accounts_purge_expired(batch_size=3) == {"sessions": 7, "resets": 3, "invitations": 0}
    assert list(Session.objects.values_list("pk", flat=True)) == [live.session.pk]
    assert Session.objects.get().replaced_by_id is None and not PasswordReset.objects.exists()
    from audits.models import AuditEntry

    batches = list(AuditEntry.objects.filter(entity="accounts", action="purge_expired").order_by("id"))
    assert [(e.payload["batch"], e.payload["sessions"], e.payload["resets"]) for e in batches] == [
        (1, 3, 3),
        (2, 3, 0),
        (3, 1, 0),
    ]
    # The two cleared references are recorded by the first batch, in its transaction.
    assert [e.payload.get("replaced_by_cleared") for e in batches] == [2, None, None]
