"""`manage.py reconcile_usage`: the day's counters equal the sum of its usage events in
the audit log, and any difference (an edited or deleted counter row) is reported with a
non-zero exit."""

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from providers import services
from providers.models import UsageTracking

pytestmark = pytest.mark.django_db

# A day no other test records usage on (committed audit entries outlive transactional tests).
DAY = date(2025, 7, 15)


@pytest.fixture
def day_of_usage(regular_user, other_user, make_provider):
    a, b = make_provider(cost_per_1k_tokens=Decimal("0.001500")), make_provider()
    with time_machine.travel(datetime(2025, 7, 15, 10, tzinfo=UTC), tick=False):
        for i in range(5):
            services.usage_record(user=regular_user, provider=a, model="x", tokens_input=100 + i, tokens_output=7)
        services.usage_record(user=regular_user, provider=b, model="y", tokens_input=1, tokens_output=1, requests=3)
        services.usage_record(user=other_user, provider=a, model="x", tokens_input=5, tokens_output=5)
    with time_machine.travel(datetime(2025, 7, 16, 0, 0, 1, tzinfo=UTC), tick=False):
        services.usage_record(user=regular_user, provider=a, model="x", tokens_input=1, tokens_output=1)
    return a


def test_counters_equal_the_ledger(day_of_usage):
    out = StringIO()
    call_command("reconcile_usage", "--date", DAY.isoformat(), stdout=out)
    assert (
        out.getvalue().strip() == "reconcile_usage 2025-07-15: 3 counter row(s), 7 usage event(s), 0 mismatch(es): OK"
    )
    out = StringIO()
    call_command("reconcile_usage", "--date", "2025-07-16", stdout=out)
    assert "1 counter row(s), 1 usage event(s), 0 mismatch(es): OK" in out.getvalue()


def test_an_edited_counter_is_reported(day_of_usage, regular_user):
    UsageTracking.objects.filter(user=regular_user, date=DAY, model="x").update(cost_usd=Decimal("99"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("reconcile_usage", "--date", DAY.isoformat(), stderr=err)
    assert "MISMATCH" in err.getvalue() and str(regular_user.pk) in err.getvalue()


def test_a_deleted_counter_is_reported(day_of_usage, other_user):
    UsageTracking.objects.filter(user=other_user).delete()
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("reconcile_usage", "--date", DAY.isoformat())


def test_default_day_is_today(regular_user, provider):
    with time_machine.travel(datetime(2025, 8, 20, 23, 59, tzinfo=UTC), tick=False):
        services.usage_record(user=regular_user, provider=provider, model="today", tokens_input=1, tokens_output=1)
        out = StringIO()
        call_command("reconcile_usage", stdout=out)
    assert out.getvalue().startswith("reconcile_usage 2025-08-20: 1 counter row(s), 1 usage event(s)")


def test_a_day_whose_ledger_was_dropped_is_refused(regular_user, provider):
    UsageTracking.objects.create(
        user=regular_user,
        provider=provider,
        model="ancient",
        date=date(2001, 1, 1),
        requests_count=1,
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    with pytest.raises(CommandError, match="audit partition is gone"):
        call_command("reconcile_usage", "--date", "2001-01-01")
