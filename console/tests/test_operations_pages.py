"""The console's own pages: database health and audit chain verification, and the
operators' everyday actions."""

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse

from console.views import mask_literals

pytestmark = pytest.mark.django_db


def test_database_health_shows_the_figures(superuser_console, world):
    response = superuser_console.get(reverse("admin:console_database"))
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("Database health", "audits.audit_log", "audit_log_", "Index usage", "Longest running", "Dead tuples"):
        assert text in page, text
    stats = response.context["stats"]
    assert {row["schema"] for row in stats["schemas"]} >= {"accounts", "audits"}


def test_database_health_needs_its_permission(operator, make_user, console_for, world):
    assert console_for(operator).get(reverse("admin:console_database")).status_code == 200
    staff = make_user("user", is_staff=True)
    staff.groups.add(Group.objects.create(name="Nothing"))
    assert console_for(staff).get(reverse("admin:console_database")).status_code == 403


def test_running_statements_are_shown_without_their_literals():
    sql = (
        "INSERT INTO user_providers (encrypted_api_key, key_last_4_chars, n) "
        "VALUES ('v1:c2VjcmV0', E'abcd', 42) -- $body$ drop $body$"
    )
    masked = mask_literals(sql)
    assert "c2VjcmV0" not in masked and "abcd" not in masked and "42" not in masked and "drop" not in masked
    assert masked.startswith("INSERT INTO user_providers (encrypted_api_key, key_last_4_chars, n) VALUES ('…'")
    assert (
        mask_literals("SELECT * FROM t WHERE note = 'it''s' AND id = 7")
        == "SELECT * FROM t WHERE note = '…' AND id = …"
    )


def test_verify_chain_runs_records_and_audits(superuser_console, superadmin, world, new_audit):
    from audits.models import Verification

    url = reverse("admin:console_verify_chain")
    page = superuser_console.get(url)
    assert page.status_code == 200 and 'id="verify-form"' in page.content.decode()
    response = superuser_console.post(url, {"since": "2999-01-01"})
    assert response.status_code == 302
    run = Verification.objects.order_by("-created_at").first()
    assert run.source == "console" and run.ok and response["Location"].endswith(f"?shown={run.pk}")
    entry = new_audit(entity="audit_log", action="verified").get()
    assert entry.actor == superadmin.pk
    shown = superuser_console.get(response["Location"])
    assert shown.context["shown"] == run and "OK" in shown.content.decode()
    assert any("Chain verified" in str(m) for m in get_messages(shown.wsgi_request))


def test_a_broken_verification_is_explained(superuser_console, world):
    from audits.services import verification_record
    from audits.verify import Break, VerifyResult

    broken = verification_record(
        result=VerifyResult(
            checked=41,
            first_broken=Break(id=99, ts=None, chain_seq=42, reason="signature mismatch", expected="ab", found="cd"),
        ),
        source="test",
    )
    page = superuser_console.get(reverse("admin:console_verify_chain") + f"?shown={broken.pk}").content.decode()
    assert "BROKEN" in page and "signature mismatch" in page and "chain position 42" in page


def test_a_verification_stopped_by_the_statement_timeout_says_so(superuser_console, world, monkeypatch):
    """A whole-chain walk longer than the request's statement timeout is cancelled by
    PostgreSQL: the page says it proved nothing and points to the command; no 500."""
    from django.db import connection

    from audits import verify
    from audits.models import Verification

    def slow_walk(cursor, start_seq):
        cursor.execute("SET LOCAL statement_timeout = '50ms'")
        cursor.execute("SELECT pg_sleep(2)")
        yield from ()

    monkeypatch.setattr(verify, "_stream_chain", slow_walk)
    before = Verification.objects.count()
    response = superuser_console.post(reverse("admin:console_verify_chain"), {"since": ""}, follow=True)
    assert response.status_code == 200
    assert any("did not finish within the statement timeout" in str(m) for m in get_messages(response.wsgi_request))
    assert Verification.objects.count() == before  # no verdict recorded for an unfinished walk
    with connection.cursor() as cursor:  # and the connection is usable afterwards
        cursor.execute("SELECT 1")


def test_a_bad_date_is_a_form_error(superuser_console, world):
    response = superuser_console.post(reverse("admin:console_verify_chain"), {"since": "yesterday"})
    assert response.status_code == 200 and "Enter a valid date" in response.content.decode()


def test_a_viewer_sees_verifications_but_cannot_run_one(auditor, console_for, world, new_audit):
    console = console_for(auditor)
    page = console.get(reverse("admin:console_verify_chain"))
    assert page.status_code == 200 and 'id="verify-form"' not in page.content.decode()
    assert console.post(reverse("admin:console_verify_chain"), {}).status_code == 403
    assert not new_audit(entity="audit_log", action="verified").exists()


# --- operators ----------------------------------------------------------------------------------


def _act(console, changelist: str, action: str, pks, **extra):
    return console.post(
        reverse(changelist), {"action": action, "_selected_action": [str(pk) for pk in pks], **extra}, follow=True
    )


def test_an_operator_runs_the_everyday_actions(operator, console_for, world, regular_user, new_audit):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Session, User
    from providers.models import CostAlert, UserProvider

    console = console_for(operator)
    User.objects.filter(pk=regular_user.pk).update(
        failed_login_attempts=5, locked_until=timezone.now() + timedelta(hours=1)
    )
    _act(console, "admin:accounts_user_changelist", "unlock_users", [regular_user.pk])
    assert not User.objects.get(pk=regular_user.pk).is_locked()
    session = Session.objects.filter(user=regular_user, revoked_at__isnull=True).first()
    _act(console, "admin:accounts_session_changelist", "revoke", [session.pk])
    assert Session.objects.get(pk=session.pk).revoked_reason == "admin"
    alerts = list(CostAlert.objects.filter(user=regular_user).values_list("pk", flat=True))
    _act(console, "admin:providers_costalert_changelist", "acknowledge", alerts)
    assert not CostAlert.objects.filter(pk__in=alerts, acknowledged=False).exists()
    _act(console, "admin:providers_userprovider_changelist", "deactivate", [world["key"].pk])
    assert not UserProvider.objects.get(pk=world["key"].pk).is_active
    for entity, action in (
        ("user", "unlock"),
        ("session", "revoke"),
        ("cost_alert", "acknowledge"),
        ("user_provider", "update"),
    ):
        assert new_audit(entity=entity, action=action, actor=operator.pk).exists(), (entity, action)
    assert new_audit(entity="admin", action="action", actor=operator.pk).count() == 4


def test_an_operator_is_offered_no_approvals(operator, console_for, world, new_audit):
    console = console_for(operator)
    page = console.get(reverse("admin:experiments_promotion_changelist")).content.decode()
    assert 'name="action"' not in page
    users = console.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert 'value="unlock_users"' in users and 'value="deactivate_users"' not in users
    response = _act(console, "admin:experiments_promotion_changelist", "approve", [world["promotion"].pk])
    assert response.status_code == 200
    world["promotion"].refresh_from_db()
    assert world["promotion"].status == "pending"
    assert not new_audit(entity="promotion", action="approve").exists()


def test_four_eyes_holds_for_admin_staff_with_every_permission(make_user, console_for, world, new_audit):
    """Even with every Django permission, approving is the services' call: an
    administrator cannot approve a request of their own."""
    from experiments.services import promotion_request
    from projects.tests.factories import evaluating_experiment

    admin = make_user("admin")
    experiment, _ = evaluating_experiment(world["evaluating"].project, admin)
    own = promotion_request(experiment=experiment, actor=admin)
    response = _act(console_for(admin), "admin:experiments_promotion_changelist", "approve", [own.pk])
    assert any("Four-eyes" in str(m) for m in get_messages(response.wsgi_request))
    own.refresh_from_db()
    assert own.status == "pending"
    assert new_audit(entity="admin", action="action").get().payload["refusals"] == 1
