"""Usage recording and quotas through the services: exact money, the admission rules,
period resets at day/month boundaries (frozen clock), Retry-After, cost alerts."""

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import override_settings

from core.exceptions import QuotaExceeded, ValidationFailed
from providers import services
from providers.models import CostAlert, UsageTracking
from providers.selectors import usage_totals

pytestmark = pytest.mark.django_db


def record(user, provider, tokens=1000, model="m", requests=1, **kw):
    return services.usage_record(
        user=user, provider=provider, model=model, tokens_input=tokens, tokens_output=0, requests=requests, **kw
    )


def at(*args):
    return time_machine.travel(datetime(*args, tzinfo=UTC), tick=False)


# --- Recording -------------------------------------------------------------------------


def test_cost_is_exact_decimal_and_rows_accumulate(regular_user, make_provider):
    provider = make_provider(cost_per_1k_tokens=Decimal("0.001234"))
    first = services.usage_record(user=regular_user, provider=provider, model="m", tokens_input=1000, tokens_output=1)
    assert first.cost_usd == Decimal("0.001235234")  # 1001 / 1000 × 0.001234, no rounding
    second = services.usage_record(
        user=regular_user, provider=provider, model="m", tokens_input=7, tokens_output=0, requests=3
    )
    assert second.usage_id == first.usage_id
    assert (second.row_requests, second.row_tokens_input, second.row_tokens_output) == (4, 1007, 1)
    assert second.row_cost_usd == Decimal("0.001235234") + Decimal("0.000008638")
    row = UsageTracking.objects.get()
    assert isinstance(row.cost_usd, Decimal) and row.cost_usd == second.row_cost_usd
    assert second.totals.daily.requests == 4 and second.totals.monthly.cost_usd == row.cost_usd


def test_sums_of_many_tiny_costs_do_not_drift(regular_user, make_provider):
    provider = make_provider(cost_per_1k_tokens=Decimal("0.000001"))
    for _ in range(50):
        record(regular_user, provider, tokens=1)
    # 50 × 1 token × 0.000001 / 1000 = 0.00000005 exactly (a float sum would not be).
    assert UsageTracking.objects.get().cost_usd == Decimal("0.000000050")


def test_one_row_per_user_provider_model_and_day(regular_user, other_user, make_provider):
    a, b = make_provider(), make_provider()
    with at(2026, 3, 10, 12):
        record(regular_user, a, model="x")
        record(regular_user, a, model="y")
        record(regular_user, b, model="x")
        record(other_user, a, model="x")
        record(regular_user, a, model="x")
    with at(2026, 3, 11, 12):
        record(regular_user, a, model="x")
    rows = {(r.user_id, r.provider_id, r.model, r.date): r.requests_count for r in UsageTracking.objects.all()}
    assert rows == {
        (regular_user.pk, a.pk, "x", date(2026, 3, 10)): 2,
        (regular_user.pk, a.pk, "y", date(2026, 3, 10)): 1,
        (regular_user.pk, b.pk, "x", date(2026, 3, 10)): 1,
        (other_user.pk, a.pk, "x", date(2026, 3, 10)): 1,
        (regular_user.pk, a.pk, "x", date(2026, 3, 11)): 1,
    }


def test_every_record_is_audited_with_a_small_payload(regular_user, admin_user, provider, new_audit):
    result = record(regular_user, provider, tokens=500, actor=admin_user)
    entry = new_audit(entity="usage", action="record").get()
    assert entry.actor == admin_user.pk
    assert entry.payload == {
        "user": str(regular_user.pk),
        "provider": str(provider.pk),
        "model": "m",
        "date": result.date.isoformat(),
        "requests": 1,
        "tokens_input": 500,
        "tokens_output": 0,
        "cost": "0.001000000",
    }
    record(regular_user, provider)
    assert new_audit(entity="usage", action="record", actor=regular_user.pk).count() == 1


@pytest.mark.parametrize(
    "field,value",
    [
        ("tokens_input", -1),
        ("tokens_output", True),
        ("tokens_input", 1.5),
        ("tokens_input", 10**12),
        ("requests", 0),
        ("model", ""),
        ("model", "x" * 201),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(regular_user, provider, field, value, new_audit):
    values = {"model": "m", "tokens_input": 1, "tokens_output": 1, "requests": 1, field: value}
    with pytest.raises(ValidationFailed) as exc:
        services.usage_record(user=regular_user, provider=provider, **values)
    assert field in exc.value.details
    assert not UsageTracking.objects.exists()
    assert not new_audit(entity="usage").exists()


def test_inactive_and_unknown_providers_are_refused(regular_user, provider, new_audit):
    services.provider_update(provider=provider, actor=None, is_active=False)
    with pytest.raises(ValidationFailed) as exc:
        record(regular_user, provider)  # the stale instance says active: the database decides
    assert exc.value.details == {"provider": ["This provider is inactive."]}
    for unknown in (uuid.uuid4(), str(uuid.uuid4())):
        with pytest.raises(ValidationFailed) as exc:
            record(regular_user, unknown)
        assert exc.value.details == {"provider": ["No such provider in the catalog."]}
    with pytest.raises(ValidationFailed):
        record(regular_user, "not-a-uuid")
    assert not UsageTracking.objects.exists() and not new_audit(entity="usage").exists()


def test_a_provider_id_is_as_good_as_the_entry(regular_user, provider):
    assert record(regular_user, str(provider.pk)).provider_id == provider.pk


# --- Admission rules -------------------------------------------------------------------


def test_request_limit_is_exact_and_retry_after_points_at_midnight(regular_user, provider, set_quota, new_audit):
    set_quota(regular_user, daily_limit=3)
    with at(2026, 3, 10, 18, 0, 0):
        for _ in range(3):
            record(regular_user, provider, tokens=0)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider, tokens=0)
    assert exc.value.retry_after == 6 * 3600
    assert exc.value.headers == {"Retry-After": "21600"}
    assert exc.value.details["limits"] == ["daily_requests"]
    assert exc.value.details["resets_at"] == "2026-03-11T00:00:00+00:00"
    assert UsageTracking.objects.get().requests_count == 3
    assert new_audit(entity="usage").count() == 3


def test_a_batch_that_does_not_fit_is_refused_whole(regular_user, provider, set_quota):
    set_quota(regular_user, daily_limit=3)
    record(regular_user, provider, requests=2)
    with pytest.raises(QuotaExceeded):
        record(regular_user, provider, requests=2)
    record(regular_user, provider, requests=1)
    assert UsageTracking.objects.get().requests_count == 3


def test_the_request_that_crosses_a_cost_limit_is_recorded_then_all_are_refused(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("4.000000"))  # 1,000 tokens = $4
    set_quota(regular_user, daily_cost_limit=Decimal("10"))
    results = [record(regular_user, provider) for _ in range(3)]  # $0 → $4 → $8 → $12: admitted while < $10
    assert [r.totals.daily.cost_usd for r in results] == [Decimal(4), Decimal(8), Decimal(12)]
    with pytest.raises(QuotaExceeded) as exc:
        record(regular_user, provider)
    assert exc.value.details["limits"] == ["daily_cost"]
    # Overspend ($2) is less than one request's cost ($4).
    assert UsageTracking.objects.get().cost_usd - Decimal(10) < Decimal(4)


def test_monthly_limits_win_the_retry_after(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_limit=1, monthly_cost_limit=Decimal("1"))
    with at(2026, 3, 20, 12):
        record(regular_user, provider)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider)
    assert exc.value.details["limits"] == ["daily_requests", "monthly_cost"]
    assert exc.value.retry_after == int(
        (datetime(2026, 4, 1, tzinfo=UTC) - datetime(2026, 3, 20, 12, tzinfo=UTC)).total_seconds()
    )


def test_daily_period_resets_at_utc_midnight_and_the_month_keeps_counting(regular_user, provider, set_quota):
    set_quota(regular_user, daily_limit=2, monthly_limit=3)
    with at(2026, 3, 10, 23, 59, 59):
        record(regular_user, provider)
        record(regular_user, provider)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider)
        assert exc.value.retry_after == 1
    with at(2026, 3, 11, 0, 0, 0):
        result = record(regular_user, provider)
        assert result.date == date(2026, 3, 11)
        assert (result.totals.daily.requests, result.totals.monthly.requests) == (1, 3)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider)
        assert exc.value.details["limits"] == ["monthly_requests"]
        assert exc.value.details["resets_at"] == "2026-04-01T00:00:00+00:00"


def test_monthly_period_resets_on_the_first(regular_user, provider, set_quota):
    set_quota(regular_user, monthly_limit=1)
    with at(2026, 3, 31, 23, 59, 59, 999999):
        record(regular_user, provider)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider)
        assert exc.value.retry_after == 1
    with at(2026, 4, 1):
        result = record(regular_user, provider)
    assert result.totals.monthly.requests == 1 and result.totals.monthly.period_start == date(2026, 4, 1)
    with at(2026, 12, 31, 23, 0):
        assert record(regular_user, provider).totals.monthly.resets_at == datetime(2027, 1, 1, tzinfo=UTC)


@override_settings(QUOTA_TIMEZONE="America/New_York")
def test_periods_follow_quota_timezone(regular_user, provider, set_quota):
    set_quota(regular_user, daily_limit=1)
    # 03:00 UTC on the 11th is 23:00 on the 10th in New York (EDT, UTC-4).
    with at(2026, 3, 11, 3, 0):
        result = record(regular_user, provider)
        assert result.date == date(2026, 3, 10)
        with pytest.raises(QuotaExceeded) as exc:
            record(regular_user, provider)
    assert exc.value.retry_after == 3600
    with at(2026, 3, 11, 4, 0):
        assert record(regular_user, provider).date == date(2026, 3, 11)


def test_defaults_apply_without_a_row_and_per_column(regular_user, provider, set_quota, settings):
    settings.QUOTA_DEFAULT_DAILY_REQUESTS = 2
    settings.QUOTA_DEFAULT_DAILY_COST_USD = "0.50"
    totals = usage_totals(user=regular_user)
    assert totals.limits.daily_requests == 2 and totals.limits.daily_cost == Decimal("0.50")
    assert totals.limits.custom == frozenset()
    record(regular_user, provider)
    record(regular_user, provider)
    with pytest.raises(QuotaExceeded):
        record(regular_user, provider)
    set_quota(regular_user, monthly_limit=100)  # daily_limit stays NULL → still the default
    with pytest.raises(QuotaExceeded):
        record(regular_user, provider)
    set_quota(regular_user, daily_limit=3, monthly_limit=100)
    record(regular_user, provider)
    assert usage_totals(user=regular_user).limits.custom == {"daily_limit", "monthly_limit"}


def test_a_zero_limit_blocks_everything(regular_user, provider, set_quota):
    set_quota(regular_user, daily_cost_limit=Decimal("0"))
    with pytest.raises(QuotaExceeded):
        record(regular_user, provider, tokens=0)
    with pytest.raises(QuotaExceeded):
        services.quota_check(user=regular_user)
    assert not CostAlert.objects.exists()


def test_quota_check_is_a_strict_preflight(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_limit=2, daily_cost_limit=Decimal("3"))
    services.quota_check(user=regular_user)
    services.quota_check(user=regular_user, requests=2, cost=Decimal("3"))
    with pytest.raises(QuotaExceeded):
        services.quota_check(user=regular_user, requests=3)
    with pytest.raises(QuotaExceeded):
        services.quota_check(user=regular_user, cost=Decimal("3.000001"))
    record(regular_user, provider, tokens=2500)  # $2.50
    services.quota_check(user=regular_user, cost=Decimal("0.5"))
    with pytest.raises(QuotaExceeded) as exc:
        services.quota_check(user=regular_user, requests=2)
    assert exc.value.details["limits"] == ["daily_requests"]
    record(regular_user, provider, tokens=1000)  # $3.50: over
    with pytest.raises(QuotaExceeded) as exc:
        services.quota_check(user=regular_user, requests=0)
    assert exc.value.details["limits"] == ["daily_cost"]
    with pytest.raises(ValidationFailed):
        services.quota_check(user=regular_user, cost=0.5)
    assert UsageTracking.objects.get().requests_count == 2  # checks write nothing


# --- Cost alerts -----------------------------------------------------------------------


def test_alerts_at_80_90_100_percent_once_per_period(regular_user, make_provider, set_quota, new_audit):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))  # 1 token = $0.001
    set_quota(regular_user, daily_cost_limit=Decimal("1"), monthly_cost_limit=Decimal("100"))
    with at(2026, 3, 10, 9):
        assert record(regular_user, provider, tokens=799).alerts == []
        first = record(regular_user, provider, tokens=1)  # $0.800 = 80 %
        assert [a["alert_type"] for a in first.alerts] == ["daily_80"]
        assert record(regular_user, provider, tokens=50).alerts == []  # 85 %: nothing new
        crossing = record(regular_user, provider, tokens=200)  # 105 %: 90 and 100 together
        assert sorted(a["alert_type"] for a in crossing.alerts) == ["daily_100", "daily_90"]
    alerts = CostAlert.objects.order_by("threshold_percentage")
    assert [(a.alert_type, a.threshold_percentage, a.period_start) for a in alerts] == [
        ("daily_80", 80, date(2026, 3, 10)),
        ("daily_90", 90, date(2026, 3, 10)),
        ("daily_100", 100, date(2026, 3, 10)),
    ]
    assert alerts[0].spent_usd == Decimal("0.8") and alerts[0].limit_usd == Decimal("1")
    assert new_audit(entity="cost_alert", action="trigger").count() == 3
    with at(2026, 3, 11, 9):
        nxt = record(regular_user, provider, tokens=900)
    assert sorted(a["alert_type"] for a in nxt.alerts) == ["daily_80", "daily_90"]
    assert CostAlert.objects.filter(period_start=date(2026, 3, 11)).count() == 2


def test_monthly_alerts_and_a_lowered_limit(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    with at(2026, 3, 10, 9):
        record(regular_user, provider, tokens=500)  # $0.50 of the default limits: no alert
        assert not CostAlert.objects.exists()
        set_quota(regular_user, monthly_cost_limit=Decimal("0.55"))
        # $0.51 of $0.55 = 92.7 %: the next record raises both reached thresholds.
        result = record(regular_user, provider, tokens=10)
    assert sorted(a["alert_type"] for a in result.alerts) == ["monthly_80", "monthly_90"]
    assert set(CostAlert.objects.values_list("period_start", flat=True)) == {date(2026, 3, 1)}


def test_acknowledge_is_idempotent_and_audited_once(regular_user, make_provider, set_quota, new_audit):
    provider = make_provider(cost_per_1k_tokens=Decimal("1"))
    set_quota(regular_user, daily_cost_limit=Decimal("1"))
    record(regular_user, provider, tokens=800)
    alert = CostAlert.objects.get()
    acked = services.cost_alert_acknowledge(alert=alert, actor=regular_user)
    assert acked.acknowledged and acked.acknowledged_at and acked.acknowledged_by_id == regular_user.pk
    again = services.cost_alert_acknowledge(alert=alert, actor=regular_user)
    assert again.acknowledged_at == acked.acknowledged_at
    assert new_audit(entity="cost_alert", action="acknowledge").count() == 1


def test_sql_uuid7_has_version_7():
    with connection.cursor() as cursor:
        cursor.execute("SELECT providers.uuid7() FROM generate_series(1, 5)")
        ids = [row[0] for row in cursor.fetchall()]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in ids)
    assert len(set(ids)) == 5
