"""The quota check and usage recording: the race-free counters, cost, and the alerts
they raise."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import connection, transaction

from accounts.models import User
from audits.services import audit_record
from core.exceptions import QuotaExceeded, ValidationFailed
from providers.models import (
    Provider,
)
from providers.periods import Periods, current_periods
from providers.selectors import usage_totals
from providers.services.common import checked_text
from providers.types import Limits, PeriodUsage, UsageResult, UsageTotals, default_limits

# ---------------------------------------------------------------------------------------
# Quota check and usage recording


_REFUSAL_TEXT = {
    "daily_requests": "daily request limit",
    "monthly_requests": "monthly request limit",
    "daily_cost": "daily cost limit",
    "monthly_cost": "monthly cost limit",
}


def _quota_exceeded(refused: list[str], periods: Periods) -> QuotaExceeded:
    # Retry when every refusing period has reset: a monthly refusal outlasts a daily one.
    resets_at = periods.month_resets_at if any(r.startswith("monthly") for r in refused) else periods.day_resets_at
    names = " and ".join(_REFUSAL_TEXT[r] for r in refused)
    return QuotaExceeded(
        f"Usage quota exceeded: {names} reached. It resets at {resets_at.isoformat()}.",
        retry_after=periods.seconds_until(resets_at),
        details={"limits": refused, "resets_at": resets_at.isoformat()},
    )


def check_count(name: str, value: object, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed.field(name, f"A whole number from {minimum} to {maximum}.")
    return value


def quota_check(*, user: User, requests: int = 1, cost: Decimal = Decimal("0")) -> None:
    """Raise QuotaExceeded (Retry-After = seconds to the period's reset) if `requests` more
    requests costing `cost` USD would exceed a daily or monthly limit, or if a cost limit
    is already used up. A pre-flight check (no lock): the exact, race-free gate is
    usage_record, which admits the request that crosses a cost limit (see docs)."""
    check_count("requests", requests, minimum=0, maximum=1_000_000)
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost < 0:
        raise ValidationFailed.field("cost", "A non-negative Decimal amount.")
    periods = current_periods()
    totals = usage_totals(user=user, periods=periods)
    refused = []
    if totals.daily.requests + requests > totals.daily.requests_limit:
        refused.append("daily_requests")
    if totals.monthly.requests + requests > totals.monthly.requests_limit:
        refused.append("monthly_requests")
    for name, usage in (("daily_cost", totals.daily), ("monthly_cost", totals.monthly)):
        if usage.cost_usd >= usage.cost_limit_usd or usage.cost_usd + cost > usage.cost_limit_usd:
            refused.append(name)
    if refused:
        raise _quota_exceeded(refused, periods)


_MAX_TOKENS_PER_RECORD = 1_000_000_000
_MAX_REQUESTS_PER_RECORD = 1_000_000


@transaction.atomic
def usage_record(
    *,
    user: User,
    provider: Provider | uuid.UUID | str,
    model: str,
    tokens_input: int,
    tokens_output: int,
    requests: int = 1,
    actor: User | None = None,
) -> UsageResult:
    """Check the quota and record usage in one race-free step (SQL function
    providers.usage_record): a per-user lock, exact period sums, one upsert on
    (user, provider, model, date), and the cost alerts reached. Over quota →
    QuotaExceeded and nothing is written. Cost = tokens / 1000 × the provider's price,
    read in the same step. `provider` is a catalog entry or its id; an unknown or
    inactive one is a ValidationFailed on `provider`."""
    model = checked_text("model", model, max_length=200)
    tokens_input = check_count("tokens_input", tokens_input, minimum=0, maximum=_MAX_TOKENS_PER_RECORD)
    tokens_output = check_count("tokens_output", tokens_output, minimum=0, maximum=_MAX_TOKENS_PER_RECORD)
    requests = check_count("requests", requests, minimum=1, maximum=_MAX_REQUESTS_PER_RECORD)
    provider_id = getattr(provider, "pk", provider)
    if not isinstance(provider_id, uuid.UUID):
        try:
            provider_id = uuid.UUID(str(provider_id))
        except ValueError:
            raise ValidationFailed.field("provider", "Must be a catalog provider id (UUID).") from None
    periods = current_periods()
    defaults = default_limits()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM providers.usage_record(%s::uuid, %s::uuid, %s::text, %s::date, %s::date, %s::date, "
            "%s::bigint, %s::bigint, %s::bigint, %s::timestamptz, %s::bigint, %s::bigint, %s::numeric, %s::numeric)",
            [
                user.pk,
                provider_id,
                model,
                periods.day,
                periods.month_start,
                periods.next_month_start,
                requests,
                tokens_input,
                tokens_output,
                periods.now,
                defaults.daily_requests,
                defaults.monthly_requests,
                defaults.daily_cost,
                defaults.monthly_cost,
            ],
        )
        (
            admitted,
            refused,
            cost,
            day_requests,
            day_cost,
            month_requests,
            month_cost,
            daily_limit,
            monthly_limit,
            daily_cost_limit,
            monthly_cost_limit,
            row_id,
            row_requests,
            row_tokens_input,
            row_tokens_output,
            row_cost,
            new_alerts,
        ) = cursor.fetchone()
    if not admitted:
        if refused == ["provider_unknown"]:
            raise ValidationFailed.field("provider", "No such provider in the catalog.")
        if refused == ["provider_inactive"]:
            raise ValidationFailed.field("provider", "This provider is inactive.")
        raise _quota_exceeded(list(refused), periods)
    cost = cost.quantize(Decimal("0.000000001"))
    actor = actor if actor is not None else user
    audit_record(
        entity="usage",
        action="record",
        actor=actor,
        payload={
            "user": str(user.pk),
            "provider": str(provider_id),
            "model": model,
            "date": periods.day.isoformat(),
            "requests": requests,
            "tokens_input": tokens_input,
            "tokens_output": tokens_output,
            "cost": str(cost),
        },
    )
    alerts = []
    for item in new_alerts or ():
        alert_id, alert_type = item.split(":", 1)
        period_start = periods.day if alert_type.startswith("daily") else periods.month_start
        alerts.append({"id": alert_id, "alert_type": alert_type, "period_start": period_start})
        audit_record(
            entity="cost_alert",
            action="trigger",
            actor=None,
            payload={"id": alert_id, "user": str(user.pk), "alert_type": alert_type, "period_start": period_start},
        )
    limits = Limits(daily_limit, monthly_limit, daily_cost_limit, monthly_cost_limit)
    totals = UsageTotals(
        daily=PeriodUsage(periods.day, periods.day_resets_at, day_requests, daily_limit, day_cost, daily_cost_limit),
        monthly=PeriodUsage(
            periods.month_start, periods.month_resets_at, month_requests, monthly_limit, month_cost, monthly_cost_limit
        ),
        limits=limits,
        timezone=str(periods.day_resets_at.tzinfo),
    )
    return UsageResult(
        usage_id=row_id,
        user_id=user.pk,
        provider_id=provider_id,
        model=model,
        date=periods.day,
        requests=requests,
        tokens_input=tokens_input,
        tokens_output=tokens_output,
        cost_usd=cost,
        row_requests=row_requests,
        row_tokens_input=row_tokens_input,
        row_tokens_output=row_tokens_output,
        row_cost_usd=row_cost,
        totals=totals,
        alerts=alerts,
    )
