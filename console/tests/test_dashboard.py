"""The operations dashboard: the figures are right, link to the filtered lists, follow
the viewer's permissions, and cost a fixed number of queries whatever the data."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.db.counts import capped_counts

pytestmark = pytest.mark.django_db


def _cards(response) -> dict:
    return {card["key"]: card for card in response.context["cards"]}


def _rows(card) -> dict:
    return {label: (int(count), url) for label, count, url, _ in card["rows"]}


def test_the_dashboard_shows_what_needs_attention(superuser_console, world, regular_user):
    response = superuser_console.get(reverse("admin:index"))
    assert response.status_code == 200
    cards = _cards(response)
    assert list(cards) == [
        "accounts",
        "experiments",
        "production",
        "quarantine",
        "spend",
        "providers",
        "audit_chain",
        "partitions",
    ]

    experiments = cards["experiments"]
    pending_count, pending_url = _rows(experiments)["Promotions awaiting a decision"]
    assert pending_count >= 1 and pending_url.endswith("/admin/experiments/promotion/?status__exact=pending")
    listed = superuser_console.get(pending_url)
    assert world["promotion"] in listed.context["cl"].result_list
    by_status = {label: int(count) for label, count, _, _ in experiments["by_status"]}
    assert by_status["Quarantined"] >= 1 and by_status["Evaluating"] >= 1

    quarantine = _rows(cards["quarantine"])
    assert quarantine["Quarantined configs"][0] >= 1
    assert quarantine["Re-evaluations awaiting a decision"][0] >= 1
    assert cards["quarantine"]["state"] == "warn"

    accounts = _rows(cards["accounts"])
    assert accounts["Live login sessions"][0] >= 1 and accounts["Active users"][0] >= 3

    spend = cards["spend"]
    assert spend["today"] == "$0.90" and spend["month"] == "$0.90"
    near = {row["email"]: row for row in spend["near"]}
    assert near[regular_user.email]["daily"] == 90 and near[regular_user.email]["unacknowledged"]
    assert spend["state"] == "warn" and int(spend["open_alerts"]) >= 2

    providers = cards["providers"]
    assert [(row["provider"].name, row["status"]) for row in providers["attention"]] == [
        ("Console Provider", "unhealthy")
    ]
    assert providers["state"] == "bad" and "HTTP 502" in providers["attention"][0]["error"]

    chain = cards["audit_chain"]
    assert chain["last"] is not None and chain["last"].source == "test"
    assert chain["status"]["pending"] >= 1  # this test's own entries, not committed yet

    partitions = cards["partitions"]["summary"]
    assert partitions.months_ahead >= 1 and partitions.next_missing > partitions.current_month

    page = response.content.decode()
    for text in ("Console Provider", regular_user.email, "$0.90", "Next missing month", "Chain head"):
        assert text in page
    assert 'href="/admin/experiments/promotion/?status__exact=pending"' in page


def test_production_card_counts_sessions_and_tasks_by_status(superuser_console, world, project, regular_user):
    from production import services as production

    session = production.session_create(project=project, actor=regular_user)
    production.task_create(session=session, type="static", actor=regular_user)
    card = _cards(superuser_console.get(reverse("admin:index")))["production"]
    assert not card.get("no_data")
    groups = {group["title"]: {label: int(count) for label, count, _, _ in group["rows"]} for group in card["groups"]}
    sessions = next(rows for title, rows in groups.items() if "session" in title.lower())
    tasks = next(rows for title, rows in groups.items() if "task" in title.lower())
    assert sum(sessions.values()) >= 1 and sum(tasks.values()) >= 1


def _more_data(project, regular_user, make_user, admin_user, n=4):
    """More rows in every table the dashboard reads."""
    from accounts.services import session_create
    from projects.tests.factories import evaluating_experiment, quarantined_experiment
    from providers import services as providers
    from providers.models import Provider

    provider = Provider.objects.get(name="Console Provider")
    for _ in range(n):
        user = make_user("user")
        session_create(user=user)
        providers.quota_set(user=user, actor=admin_user, daily_cost_limit=Decimal("1"))
        providers.usage_record(user=user, provider=provider, model="gpt-console", tokens_input=950, tokens_output=0)
        evaluating_experiment(project, regular_user)
        quarantined_experiment(project, regular_user)
        providers.provider_create(
            actor=admin_user,
            name=f"Extra {user.pk}",
            provider_type="local",
            model_name="m",
            api_endpoint="https://llm.example.com",
            cost_per_1k_tokens=Decimal("0"),
            timeout_seconds=5,
        )


def test_the_dashboard_costs_a_fixed_number_of_queries(
    superuser_console, world, project, regular_user, make_user, admin_user
):
    superuser_console.get(reverse("admin:index"))  # warm-up: per-process caches
    with CaptureQueriesContext(connection) as before:
        assert superuser_console.get(reverse("admin:index")).status_code == 200
    _more_data(project, regular_user, make_user, admin_user)
    with CaptureQueriesContext(connection) as after:
        response = superuser_console.get(reverse("admin:index"))
    assert len(after) == len(before), [q["sql"][:120] for q in after.captured_queries]
    # The request's session and user, Django's "recent actions", then the cards:
    # accounts 1, experiments 1, quarantine 1, spend 3, providers 1, audit chain 3, partitions 1.
    assert len(after) <= 15, [q["sql"][:120] for q in after.captured_queries]
    assert len(_cards(response)["providers"]["board"].attention) >= 1
    for query in after.captured_queries:
        sql = query["sql"].lower()
        assert "from audits.audit_log" not in sql or "chain_seq is" in sql, sql  # never scans the log


def test_an_auditors_dashboard_costs_a_fixed_number_of_queries_too(auditor, console_for, world):
    console = console_for(auditor)
    console.get(reverse("admin:index"))
    with CaptureQueriesContext(connection) as queries:
        response = console.get(reverse("admin:index"))
    assert response.status_code == 200
    # Two more than a superuser: the auditor's permissions (user's and groups').
    assert len(queries) <= 17


def test_the_cards_follow_permissions(make_user, console_for, world):
    from django.contrib.auth.models import Group, Permission

    staff = make_user("user", is_staff=True)
    group = Group.objects.create(name="Spend watchers")
    group.permissions.add(Permission.objects.get(codename="view_costalert"))
    staff.groups.add(group)
    cards = _cards(console_for(staff).get(reverse("admin:index")))
    assert set(cards) == {"spend"}


def test_an_auditor_sees_every_card(auditor, console_for, world):
    cards = _cards(console_for(auditor).get(reverse("admin:index")))
    assert {
        "accounts",
        "experiments",
        "production",
        "quarantine",
        "spend",
        "providers",
        "audit_chain",
        "partitions",
    } <= set(cards)


def test_a_broken_verification_turns_the_chain_card_red(superuser_console, world):
    from audits.services import verification_record
    from audits.verify import Break, VerifyResult

    verification_record(
        result=VerifyResult(checked=5, first_broken=Break(id=7, ts=None, chain_seq=6, reason="signature mismatch")),
        source="test",
    )
    card = _cards(superuser_console.get(reverse("admin:index")))["audit_chain"]
    assert card["state"] == "bad" and card["last"].ok is False


# --- the pieces -----------------------------------------------------------------------------


def test_capped_counts_stop_at_the_cap(make_user):
    from accounts.models import User

    for _ in range(3):
        make_user("viewer")
    counts = capped_counts(
        {"viewers": User.objects.filter(role="viewer"), "none": User.objects.filter(role="nobody")}, cap=2
    )
    assert str(counts["viewers"]) == "2+" and counts["viewers"].more and int(counts["viewers"]) == 2
    assert str(counts["none"]) == "0" and not counts["none"]
    exact = capped_counts({"viewers": User.objects.filter(role="viewer")}, cap=1000)["viewers"]
    assert not exact.more and int(exact) == User.objects.filter(role="viewer").count()


def test_partition_summary_finds_the_next_missing_month():
    from audits.partitions import add_months, month_start
    from audits.selectors import partition_summary

    today = date.today()
    summary = partition_summary(today=today)
    have = {p.month for p in summary.partitions}
    assert month_start(today) in have
    assert summary.next_missing not in have and summary.next_missing > month_start(today)
    assert add_months(summary.next_missing, -1) in have
    assert (
        summary.months_ahead
        == (summary.next_missing.year * 12 + summary.next_missing.month) - (today.year * 12 + today.month) - 1
    )
    # Seen from the first month of the unbroken run of partitions that reaches this month,
    # the same month is the next missing one. (Older months may have partitions of their
    # own, apart from that run: a legacy import of old events creates them, and the test
    # database is kept between runs.)
    earliest = month_start(today)
    while add_months(earliest, -1) in have:
        earliest = add_months(earliest, -1)
    seen_then = partition_summary(today=earliest)
    assert seen_then.next_missing == summary.next_missing
    assert seen_then.months_ahead == summary.months_ahead + (today.year * 12 + today.month) - (
        earliest.year * 12 + earliest.month
    )


def test_locked_users_are_counted_from_recent_lockouts(superuser_console, world, make_user, settings):
    from rest_framework.test import APIClient

    settings.LOGIN_MAX_FAILURES = 2
    victim = make_user("user")
    for _ in range(2):
        APIClient().post("/api/v1/auth/login", {"email": victim.email, "password": "wrong"}, format="json")
    victim.refresh_from_db()
    assert victim.is_locked()
    locked_count, url = _rows(_cards(superuser_console.get(reverse("admin:index")))["accounts"])["Locked out now"]
    assert locked_count >= 1
    assert victim in superuser_console.get(url).context["cl"].result_list
    from accounts.services import user_unlock

    user_unlock(user=victim, actor=None)
    after = _rows(_cards(superuser_console.get(reverse("admin:index")))["accounts"])["Locked out now"][0]
    assert after == locked_count - 1
