"""Reads of the providers app, with visibility applied: another user's key, usage or
alert is simply not in the QuerySet (so it is a 404, never a 403)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Max, Q, QuerySet, Sum

from accounts.models import User
from core.db.counts import DEFAULT_CAP, CappedCount, capped_counts
from core.permissions import is_admin
from providers.models import (
    AlertType,
    CostAlert,
    HealthStatus,
    Provider,
    ProviderHealth,
    UsageTracking,
    UserProvider,
    UserQuota,
)
from providers.periods import Periods, current_periods, quota_zone
from providers.types import PeriodUsage, UsageTotals, limits_for


def provider_list() -> QuerySet[Provider]:
    """The catalog with each entry's health (one query, whatever the size)."""
    return Provider.objects.select_related("health")


def user_provider_list(*, user: User) -> QuerySet[UserProvider]:
    """A user's own keys: personal even for admins (the admin console lists everyone's)."""
    return UserProvider.objects.filter(user=user).defer("encrypted_api_key", "encrypted_dek")


def usage_list(*, user: User) -> QuerySet[UsageTracking]:
    qs = UsageTracking.objects.select_related("provider")
    return qs if is_admin(user) else qs.filter(user=user)


def cost_alert_list(*, user: User) -> QuerySet[CostAlert]:
    qs = CostAlert.objects.all()
    return qs if is_admin(user) else qs.filter(user=user)


def quota_list() -> QuerySet[UserQuota]:
    return UserQuota.objects.select_related("user")


def quota_of(*, user: User) -> UserQuota | None:
    return UserQuota.objects.filter(user=user).first()


def usage_totals(*, user: User, periods: Periods | None = None) -> UsageTotals:
    """Today's and this month's requests and cost of a user against their limits
    (two queries: the quota row, and one aggregate over the month's usage rows)."""
    periods = periods or current_periods()
    limits = limits_for(quota_of(user=user))
    sums = UsageTracking.objects.filter(
        user=user, date__gte=periods.month_start, date__lt=periods.next_month_start
    ).aggregate(
        day_requests=Sum("requests_count", filter=Q(date=periods.day), default=0),
        day_cost=Sum("cost_usd", filter=Q(date=periods.day), default=0),
        month_requests=Sum("requests_count", default=0),
        month_cost=Sum("cost_usd", default=0),
    )
    return UsageTotals(
        daily=PeriodUsage(
            period_start=periods.day,
            resets_at=periods.day_resets_at,
            requests=sums["day_requests"],
            requests_limit=limits.daily_requests,
            cost_usd=sums["day_cost"],
            cost_limit_usd=limits.daily_cost,
        ),
        monthly=PeriodUsage(
            period_start=periods.month_start,
            resets_at=periods.month_resets_at,
            requests=sums["month_requests"],
            requests_limit=limits.monthly_requests,
            cost_usd=sums["month_cost"],
            cost_limit_usd=limits.monthly_cost,
        ),
        limits=limits,
        timezone=str(periods.day_resets_at.tzinfo),
    )


# ---------------------------------------------------------------------------------------
# The operations dashboard


@dataclass(frozen=True)
class SpendSummary:
    day: object
    month_start: object
    today_usd: Decimal
    month_usd: Decimal
    today_requests: int
    month_requests: int


def spend_summary(*, periods: Periods | None = None) -> SpendSummary:
    """Everyone's spend today and this month (one aggregate over this month's usage rows
    only: a bounded window served by usage_tracking_date_idx, whatever the table's age)."""
    periods = periods or current_periods()
    sums = UsageTracking.objects.filter(date__gte=periods.month_start, date__lt=periods.next_month_start).aggregate(
        today_usd=Sum("cost_usd", filter=Q(date=periods.day), default=Decimal("0")),
        month_usd=Sum("cost_usd", default=Decimal("0")),
        today_requests=Sum("requests_count", filter=Q(date=periods.day), default=0),
        month_requests=Sum("requests_count", default=0),
    )
    return SpendSummary(day=periods.day, month_start=periods.month_start, **sums)


DAILY_ALERTS = [t for t in AlertType.values if t.startswith("daily_")]
MONTHLY_ALERTS = [t for t in AlertType.values if t.startswith("monthly_")]


def users_near_cost_limit(*, periods: Periods | None = None, limit: int = 10) -> list[dict]:
    """Users at or over 80 % of a cost limit in the current day or month, highest first.

    Read from the cost alerts the usage recorder raises exactly once per user, threshold
    and period (SPEC §7) rather than by summing everyone's usage against everyone's
    quota: the alerts of the current periods are few and sit behind
    cost_alerts_triggered_at_idx. At most `limit` users (one grouped query); each row:
    user_id, email, daily (highest daily threshold reached, or None), monthly, unacknowledged.
    """
    periods = periods or current_periods()
    current = Q(alert_type__in=DAILY_ALERTS, period_start=periods.day) | Q(
        alert_type__in=MONTHLY_ALERTS, period_start=periods.month_start
    )
    rows = (
        CostAlert.objects.filter(current, triggered_at__gte=_month_start_instant(periods))
        .values("user_id", "user__email")
        .annotate(
            daily=Max("threshold_percentage", filter=Q(alert_type__in=DAILY_ALERTS)),
            monthly=Max("threshold_percentage", filter=Q(alert_type__in=MONTHLY_ALERTS)),
            top=Max("threshold_percentage"),
            last=Max("triggered_at"),
            open=Max("threshold_percentage", filter=Q(acknowledged=False)),
        )
        .order_by("-top", "-last")[:limit]
    )
    return [
        {
            "user_id": row["user_id"],
            "email": row["user__email"],
            "daily": row["daily"],
            "monthly": row["monthly"],
            "unacknowledged": row["open"] is not None,
        }
        for row in rows
    ]


def _month_start_instant(periods: Periods) -> datetime:
    """Midnight of the quota month's first day (in QUOTA_TIMEZONE): no alert of the
    current periods was triggered before it."""
    return datetime(periods.month_start.year, periods.month_start.month, 1, tzinfo=quota_zone())


def unacknowledged_alerts(*, periods: Periods | None = None, cap: int = DEFAULT_CAP) -> CappedCount:
    """Alerts triggered this quota month and not yet acknowledged (a bounded window on
    cost_alerts_triggered_at_idx; the count stops at `cap`)."""
    periods = periods or current_periods()
    qs = CostAlert.objects.filter(triggered_at__gte=_month_start_instant(periods), acknowledged=False)
    return capped_counts({"open": qs}, cap=cap)["open"]


@dataclass(frozen=True)
class HealthBoard:
    active: int
    healthy: int
    attention: list  # active providers not healthy: (provider, status), worst first


def provider_health_board() -> HealthBoard:
    """Active catalog providers with their health (one query: the catalog is small)."""
    order: dict[str, int] = {HealthStatus.UNHEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNKNOWN: 2}
    providers = list(Provider.objects.filter(is_active=True).select_related("health").order_by("name"))
    attention = []
    healthy = 0
    for provider in providers:
        try:
            status = provider.health.status
        except ProviderHealth.DoesNotExist:
            status = HealthStatus.UNKNOWN
        if status == HealthStatus.HEALTHY:
            healthy += 1
        else:
            attention.append((provider, status))
    attention.sort(key=lambda item: order.get(item[1], 3))
    return HealthBoard(active=len(providers), healthy=healthy, attention=attention)
