"""The hot-path answers (POST /usage/, GET /me/quota) are built as plain dicts; they must
say exactly what their documented serializers say."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.test import override_settings

from providers import services
from providers.api import serializers as s
from providers.selectors import usage_totals

pytestmark = pytest.mark.django_db


def _period_input(usage):
    return {
        "period_start": usage.period_start,
        "resets_at": usage.resets_at,
        "requests": {
            "used": usage.requests,
            "limit": usage.requests_limit,
            "remaining": max(0, usage.requests_limit - usage.requests),
            "percent": Decimal(usage.requests) * 100 / usage.requests_limit if usage.requests_limit else Decimal(100),
        },
        "cost_usd": {
            "used": usage.cost_usd,
            "limit": usage.cost_limit_usd,
            "remaining": max(Decimal(0), usage.cost_limit_usd - usage.cost_usd),
            "percent": usage.cost_usd * 100 / usage.cost_limit_usd if usage.cost_limit_usd else Decimal(100),
        },
    }


def _plain(data):
    return json.loads(json.dumps(data))


@override_settings(QUOTA_TIMEZONE="Asia/Kolkata")
def test_usage_answer_matches_its_serializer(regular_user, make_provider, set_quota):
    provider = make_provider(cost_per_1k_tokens=Decimal("0.123457"))
    set_quota(regular_user, daily_cost_limit=Decimal("0.000400"), daily_limit=7)
    with time_machine.travel(datetime(2026, 5, 31, 20, 45, tzinfo=UTC), tick=False):
        result = services.usage_record(
            user=regular_user, provider=provider, model="m", tokens_input=3333, tokens_output=1, requests=2
        )
    assert result.alerts  # the answer includes alerts too
    documented = s.UsageRecordOutput(
        {
            "user": result.user_id,
            "recorded": {
                "requests": result.requests,
                "tokens_input": result.tokens_input,
                "tokens_output": result.tokens_output,
                "cost_usd": result.cost_usd,
            },
            "usage": {
                "id": result.usage_id,
                "date": result.date,
                "provider": result.provider_id,
                "model": result.model,
                "requests": result.row_requests,
                "requests_count": result.row_requests,
                "tokens_input": result.row_tokens_input,
                "tokens_output": result.row_tokens_output,
                "cost_usd": result.row_cost_usd,
            },
            "daily": _period_input(result.totals.daily),
            "monthly": _period_input(result.totals.monthly),
            "alerts": result.alerts,
        }
    ).data
    assert s.usage_record_data(result) == _plain(documented)


def test_quota_answer_matches_its_serializer(regular_user, provider, set_quota):
    set_quota(regular_user, monthly_cost_limit=Decimal("0"))
    totals = usage_totals(user=regular_user)
    limits = totals.limits
    documented = s.QuotaStatusOutput(
        {
            "timezone": totals.timezone,
            "limits": {
                "daily_limit": limits.daily_requests,
                "monthly_limit": limits.monthly_requests,
                "daily_cost_limit": limits.daily_cost,
                "monthly_cost_limit": limits.monthly_cost,
                "custom": sorted(limits.custom),
            },
            "daily": _period_input(totals.daily),
            "monthly": _period_input(totals.monthly),
        }
    ).data
    assert s.quota_status_data(totals) == _plain(documented)
    assert s.quota_status_data(totals)["monthly"]["cost_usd"]["percent"] == "100.00"
