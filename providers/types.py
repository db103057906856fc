"""Value types of the providers domain (reports, limits, usage totals), shared by its
services and selectors so neither imports the other for them; and the limits a user
has (the defaults, overridden by a quota row)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings

from providers.models import UserQuota


@dataclass
class RewrapReport:
    kek_id: str
    rewrapped: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProbeResult:
    provider_id: uuid.UUID
    ok: bool
    response_time_ms: int | None
    error: str
    checked_at: datetime


@dataclass
class HealthRunReport:
    checked: int = 0
    healthy: int = 0
    degraded: int = 0
    unhealthy: int = 0
    became_unhealthy: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    def as_payload(self) -> dict:
        return {
            "checked": self.checked,
            "healthy": self.healthy,
            "degraded": self.degraded,
            "unhealthy": self.unhealthy,
            "became_unhealthy": self.became_unhealthy[:50],
            "recovered": self.recovered[:50],
        }


LIMIT_FIELDS = ("daily_limit", "monthly_limit", "daily_cost_limit", "monthly_cost_limit")


@dataclass(frozen=True)
class Limits:
    daily_requests: int
    monthly_requests: int
    daily_cost: Decimal
    monthly_cost: Decimal
    custom: frozenset = frozenset()  # which LIMIT_FIELDS come from the user's quota row


def default_limits() -> Limits:
    return Limits(
        daily_requests=int(settings.QUOTA_DEFAULT_DAILY_REQUESTS),
        monthly_requests=int(settings.QUOTA_DEFAULT_MONTHLY_REQUESTS),
        daily_cost=Decimal(str(settings.QUOTA_DEFAULT_DAILY_COST_USD)),
        monthly_cost=Decimal(str(settings.QUOTA_DEFAULT_MONTHLY_COST_USD)),
    )


def limits_for(quota: UserQuota | None) -> Limits:
    base = default_limits()
    if quota is None:
        return base
    return Limits(
        daily_requests=base.daily_requests if quota.daily_limit is None else quota.daily_limit,
        monthly_requests=base.monthly_requests if quota.monthly_limit is None else quota.monthly_limit,
        daily_cost=base.daily_cost if quota.daily_cost_limit is None else quota.daily_cost_limit,
        monthly_cost=base.monthly_cost if quota.monthly_cost_limit is None else quota.monthly_cost_limit,
        custom=frozenset(f for f in LIMIT_FIELDS if getattr(quota, f) is not None),
    )


@dataclass(frozen=True)
class PeriodUsage:
    period_start: date
    resets_at: datetime
    requests: int
    requests_limit: int
    cost_usd: Decimal
    cost_limit_usd: Decimal


@dataclass(frozen=True)
class UsageTotals:
    daily: PeriodUsage
    monthly: PeriodUsage
    limits: Limits
    timezone: str


@dataclass(frozen=True)
class UsageResult:
    """What usage_record did: the row's running totals, the periods' totals after this
    record, the cost of this record, and the alerts it raised."""

    usage_id: int
    user_id: object
    provider_id: object
    model: str
    date: date
    requests: int
    tokens_input: int
    tokens_output: int
    cost_usd: Decimal
    row_requests: int
    row_tokens_input: int
    row_tokens_output: int
    row_cost_usd: Decimal
    totals: UsageTotals
    alerts: list[dict]
