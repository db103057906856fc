"""Reads of the providers app, with visibility applied: another user's key, usage or
alert is simply not in the QuerySet (so it is a 404, never a 403)."""

from __future__ import annotations

from django.db.models import Q, QuerySet, Sum

from core.permissions import is_admin
from providers.models import CostAlert, Provider, UsageTracking, UserProvider, UserQuota
from providers.periods import Periods, current_periods
from providers.services import PeriodUsage, UsageTotals, limits_for


def provider_list() -> QuerySet[Provider]:
    """The catalog with each entry's health (one query, whatever the size)."""
    return Provider.objects.select_related("health")


def user_provider_list(*, user) -> QuerySet[UserProvider]:
    """A user's own keys: personal even for admins (the admin console lists everyone's)."""
    return UserProvider.objects.filter(user=user).defer("encrypted_api_key", "encrypted_dek")


def usage_list(*, user) -> QuerySet[UsageTracking]:
    qs = UsageTracking.objects.select_related("provider")
    return qs if is_admin(user) else qs.filter(user=user)


def cost_alert_list(*, user) -> QuerySet[CostAlert]:
    qs = CostAlert.objects.all()
    return qs if is_admin(user) else qs.filter(user=user)


def quota_list() -> QuerySet[UserQuota]:
    return UserQuota.objects.select_related("user")


def quota_of(*, user) -> UserQuota | None:
    return UserQuota.objects.filter(user=user).first()


def usage_totals(*, user, periods: Periods | None = None) -> UsageTotals:
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
