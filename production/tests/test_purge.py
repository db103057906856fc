"""manage.py purge_expired with a frozen clock: expired artifacts go in audited batches,
the accounts part (login sessions, password resets, invitations) too; dry runs count
only; a second run does nothing."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Invitation, PasswordReset, Session
from production import services
from production.models import Artifact
from production.tests.factories import make_artifact, make_session

pytestmark = pytest.mark.django_db


def purge(*args) -> str:
    out = StringIO()
    call_command("purge_expired", *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.fixture
def world(project, regular_user, admin_user):
    """Now: 5 artifacts expiring in 1 day, 2 in 10 days, 1 never; an invitation expiring
    in 7 days; a login session (30 days) and a reset token (1 hour)."""
    session = make_session(regular_user, project)
    now = timezone.now()
    soon = [make_artifact(session, expires_at=now + timedelta(days=1)) for _ in range(5)]
    later = [make_artifact(session, expires_at=now + timedelta(days=10)) for _ in range(2)]
    forever = make_artifact(session)
    invitation, _code = account_services.invitation_create(actor=admin_user)
    login = account_services.session_create(user=regular_user)
    account_services._password_reset_issue(user=regular_user, ttl=timedelta(hours=1), actor=None)
    return {"now": now, "soon": soon, "later": later, "forever": forever, "invitation": invitation, "login": login}


def test_purge_with_a_frozen_clock(world, new_audit):
    now = world["now"]
    # Nothing has expired yet: nothing to do, nothing recorded.
    with time_machine.travel(now + timedelta(minutes=1), tick=False):
        assert "deleted 0 expired artifact(s) in 0 batch(es)" in purge()
    assert Artifact.objects.count() == 8 and not new_audit(action="purge").exists()

    with time_machine.travel(now + timedelta(days=2), tick=False):
        line = purge("--dry-run")
        assert "(dry run): would delete 5 expired artifact(s)" in line
        assert "1 used or expired password reset(s)" in line
        assert Artifact.objects.count() == 8 and PasswordReset.objects.count() == 1  # a dry run deletes nothing

        line = purge("--batch-size", "2")
        assert "deleted 5 expired artifact(s) in 3 batch(es)" in line
        assert "0 expired login session(s)" in line and "1 used or expired password reset(s)" in line
        assert "0 expired invitation(s)" in line
    remaining = set(Artifact.objects.values_list("pk", flat=True))
    assert remaining == {a.pk for a in world["later"]} | {world["forever"].pk}
    batches = list(new_audit(entity="artifact", action="purge").order_by("id"))
    assert [e.payload["count"] for e in batches] == [2, 2, 1]
    assert [e.payload["batch"] for e in batches] == [1, 2, 3]
    assert sum(e.payload["bytes"] for e in batches) == 5 * 2048
    purged_ids = {str(a.pk) for a in world["soon"]}
    assert {e.payload["first_id"] for e in batches} <= purged_ids and {
        e.payload["last_id"] for e in batches
    } <= purged_ids
    assert new_audit(entity="accounts", action="purge_expired").count() == 1

    # Idempotent: the same moment again finds nothing and records nothing.
    with time_machine.travel(now + timedelta(days=2), tick=False):
        assert "deleted 0 expired artifact(s) in 0 batch(es)" in purge()
    assert new_audit(action="purge").count() == 3 and new_audit(action="purge_expired").count() == 1

    # Later still: the other artifacts, the invitation, and finally the login session.
    with time_machine.travel(now + timedelta(days=31), tick=False):
        line = purge()
        assert "deleted 2 expired artifact(s) in 1 batch(es)" in line
        assert "1 expired invitation(s)" in line and "expired login session(s)" in line
    assert list(Artifact.objects.values_list("pk", flat=True)) == [world["forever"].pk]
    assert not Invitation.objects.filter(pk=world["invitation"].pk).exists()
    assert not Session.objects.filter(pk=world["login"].session.pk).exists()


def test_expiry_is_inclusive_of_the_cut_off(world):
    cut_off = world["soon"][0].expires_at
    deleted, batches = services.artifacts_purge_expired(now=cut_off, batch_size=100)
    assert deleted >= 1 and batches == 1
    assert not Artifact.objects.filter(pk=world["soon"][0].pk).exists()


def test_batch_size_must_be_sensible(world):
    with pytest.raises(CommandError):
        purge("--batch-size", "0")


def test_one_run_at_a_time(world):
    with connection.cursor() as cursor:
        # Another session holds the purge lock (a second connection of this process).
        from django.db import connections

        other = connections.create_connection("default")
        try:
            with other.cursor() as other_cursor:
                other_cursor.execute("SELECT pg_advisory_lock(%s)", [services.PURGE_LOCK])
            with pytest.raises(CommandError, match="another purge_expired is running"):
                purge()
        finally:
            other.close()
        cursor.execute("SELECT 1")
    assert Artifact.objects.count() == 8
