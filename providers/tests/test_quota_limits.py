"""The limits a quota service accepts: whole request counts and USD amounts that are
finite, 0 or more, with at most 6 decimals. Anything else is a validation_error on the
field, and nothing is written (no quota row, no audit entry)."""

from decimal import Decimal

import pytest

from core.exceptions import ValidationFailed
from providers import services
from providers.models import UserQuota


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "nan",
        "inf",
        Decimal("1.0000001"),
        Decimal("1E-7"),
        "-0.01",
        Decimal("1000000000000"),
        "a dollar",
        1.5e300,
    ],
)
def test_cost_limits_that_are_not_usd_amounts_are_refused(admin_user, regular_user, new_audit, amount):
    with pytest.raises(ValidationFailed) as refused:
        services.quota_set(user=regular_user, actor=admin_user, daily_cost_limit=amount)
    assert refused.value.code == "validation_error"
    assert list(refused.value.details) == ["daily_cost_limit"]
    assert not UserQuota.objects.filter(user=regular_user).exists()
    assert not new_audit(entity="user_quota").exists()


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("0.000001"), Decimal("1E+3"), "2.5", 7])
def test_cost_limits_within_the_rules_are_stored(admin_user, regular_user, new_audit, amount):
    quota, created = services.quota_set(user=regular_user, actor=admin_user, monthly_cost_limit=amount)
    assert created and quota.monthly_cost_limit == Decimal(str(amount))
    assert new_audit(entity="user_quota", action="set").count() == 1


@pytest.mark.parametrize("count", [True, -1, 2_147_483_648, 1.0, "10"])
def test_request_limits_that_are_not_whole_counts_are_refused(admin_user, regular_user, new_audit, count):
    quota = services.quota_set(user=regular_user, actor=admin_user, daily_limit=5)[0]
    with pytest.raises(ValidationFailed) as refused:
        services.quota_update(quota=quota, actor=admin_user, daily_limit=count)
    assert list(refused.value.details) == ["daily_limit"]
    quota.refresh_from_db()
    assert quota.daily_limit == 5
    assert not new_audit(entity="user_quota", action="update").exists()
