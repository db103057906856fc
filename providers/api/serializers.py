"""Serializers of the providers API. Inputs validate shapes and types; the rules live in
providers.services. No serializer has a field that could carry a stored key out.

One vocabulary (docs/providers.md "API names"): `provider_type` is the kind of provider,
`model` the model, `name` a resource's own name, `provider` / `provider_name` a catalog
entry referred to, `requests` a number of requests; every amount of money is a decimal
string with MONEY_PLACES places. The names used before (`model_name`, `provider_name` of
a stored key, `requests_count`) are still written and accepted for one release.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from core.api.strict import RejectUnknownFields
from core.json_types import JsonTypesMixin, TypedInput
from core.serializers import CachedFieldsOutput
from providers.models import (
    CostAlert,
    HealthStatus,
    Provider,
    ProviderHealth,
    ProviderType,
    UsageTracking,
    UserProvider,
    UserQuota,
)
from providers.services import LIMIT_FIELDS, PROVIDER_FIELDS, limits_for

MONEY_PLACES = 9


def money(**kwargs) -> serializers.DecimalField:
    """An amount of US dollars as the API writes every one: a string with 9 places."""
    return serializers.DecimalField(max_digits=24, decimal_places=MONEY_PLACES, **kwargs)


def deprecated(current: str) -> str:
    return f"Deprecated: use `{current}`; removed in the next release."


# --- Catalog ---------------------------------------------------------------------------


class HealthOutput(serializers.Serializer):
    status = serializers.ChoiceField(choices=HealthStatus.choices)
    is_healthy = serializers.BooleanField(allow_null=True)
    last_check_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    consecutive_failures = serializers.IntegerField()
    response_time_ms = serializers.IntegerField(allow_null=True)
    success_rate = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True, help_text="Percent of the last 100 probes that succeeded."
    )
    checks_total = serializers.IntegerField()


_UNKNOWN_HEALTH = {
    "status": HealthStatus.UNKNOWN,
    "is_healthy": None,
    "last_check_at": None,
    "last_success_at": None,
    "last_error": "",
    "consecutive_failures": 0,
    "response_time_ms": None,
    "success_rate": None,
    "checks_total": 0,
}


def health_data(provider: Provider) -> dict:
    try:
        health: ProviderHealth = provider.health
    except ProviderHealth.DoesNotExist:
        return dict(_UNKNOWN_HEALTH)
    data = HealthOutput(health).data
    if health.last_check_at is None:
        data["is_healthy"] = None
    return data


class ProviderOutput(CachedFieldsOutput, serializers.ModelSerializer):
    health = serializers.SerializerMethodField()
    model = serializers.CharField(source="model_name", read_only=True)
    model_name = serializers.CharField(read_only=True, help_text=deprecated("model"))
    cost_per_1k_tokens = money(read_only=True)

    class Meta:
        model = Provider
        fields = ["id", "model", *PROVIDER_FIELDS, "health", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(HealthOutput)
    def get_health(self, obj: Provider) -> dict:
        return health_data(obj)


class ProviderInput(RejectUnknownFields, JsonTypesMixin, serializers.ModelSerializer):
    deprecated_names = {"model_name": "model"}
    model = serializers.CharField(source="model_name", max_length=200, help_text="The model this entry serves.")

    class Meta:
        model = Provider
        fields = ["model" if name == "model_name" else name for name in PROVIDER_FIELDS]


# --- Users' keys -----------------------------------------------------------------------


class UserProviderOutput(CachedFieldsOutput, serializers.ModelSerializer):
    name = serializers.CharField(source="provider_name", read_only=True, help_text="Your name for this key.")
    model = serializers.CharField(source="model_name", read_only=True)
    provider_name = serializers.CharField(read_only=True, help_text=deprecated("name"))
    model_name = serializers.CharField(read_only=True, help_text=deprecated("model"))

    class Meta:
        model = UserProvider
        fields = [
            "id",
            "provider_type",
            "name",
            "model",
            "provider_name",
            "model_name",
            "key_last_4_chars",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class UserProviderCreateInput(TypedInput):
    deprecated_names = {"provider_name": "name", "model_name": "model"}
    provider_type = serializers.ChoiceField(choices=ProviderType.choices)
    name = serializers.CharField(source="provider_name", max_length=100, help_text="Your name for this key.")
    model = serializers.CharField(source="model_name", max_length=200, required=False, allow_blank=True, default="")
    # Checked by the service (format rules); never echoed back in any error.
    api_key = serializers.CharField(write_only=True, trim_whitespace=False, max_length=1024)


class UserProviderUpdateInput(TypedInput):
    read_only_hints = {"provider_type": "delete this key and store a new one for the other provider type"}
    deprecated_names = {"provider_name": "name", "model_name": "model"}
    is_active = serializers.BooleanField(required=False)
    name = serializers.CharField(source="provider_name", max_length=100, required=False)
    model = serializers.CharField(source="model_name", max_length=200, required=False, allow_blank=True)
    api_key = serializers.CharField(
        write_only=True, trim_whitespace=False, max_length=1024, required=False, help_text="Replaces the stored key."
    )


# --- Quota and usage -------------------------------------------------------------------


class AmountUse(serializers.Serializer):
    used = money()
    limit = money()
    remaining = money()
    percent = serializers.DecimalField(max_digits=12, decimal_places=2)


class CountUse(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    percent = serializers.DecimalField(max_digits=12, decimal_places=2)


class PeriodOutput(serializers.Serializer):
    period_start = serializers.DateField()
    resets_at = serializers.DateTimeField()
    requests = CountUse()
    cost_usd = AmountUse()


class LimitsOutput(serializers.Serializer):
    daily_limit = serializers.IntegerField()
    monthly_limit = serializers.IntegerField()
    daily_cost_limit = money()
    monthly_cost_limit = money()
    custom = serializers.ListField(
        child=serializers.ChoiceField(choices=LIMIT_FIELDS),
        help_text="The limits set for this user; the others are the platform defaults.",
    )


class QuotaStatusOutput(serializers.Serializer):
    timezone = serializers.CharField(help_text="Periods are days and months in this time zone (QUOTA_TIMEZONE).")
    limits = LimitsOutput()
    daily = PeriodOutput()
    monthly = PeriodOutput()


_CENT = Decimal("0.01")
_NANO = Decimal("0.000000001")


def _dec(value, quantum: Decimal) -> str:
    """A Decimal as DRF's DecimalField (COERCE_DECIMAL_TO_STRING) writes it."""
    return format(Decimal(value).quantize(quantum), "f")


def _when(value) -> str:
    """A datetime as DRF writes it (UTC, 'Z')."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _percent(used, limit) -> str:
    if limit <= 0:
        return "100.00"
    return _dec(Decimal(used) * 100 / Decimal(limit), _CENT)


# The usage and quota answers are built as plain dicts: POST /usage/ is the hot path, and
# nested DRF serializers cost more than the rest of the request's Python. The serializer
# classes above stay the documented schema; a test checks both agree.
def _period(usage) -> dict:
    return {
        "period_start": usage.period_start.isoformat(),
        "resets_at": _when(usage.resets_at),
        "requests": {
            "used": usage.requests,
            "limit": usage.requests_limit,
            "remaining": max(0, usage.requests_limit - usage.requests),
            "percent": _percent(usage.requests, usage.requests_limit),
        },
        "cost_usd": {
            "used": _dec(usage.cost_usd, _NANO),
            "limit": _dec(usage.cost_limit_usd, _NANO),
            "remaining": _dec(max(Decimal(0), usage.cost_limit_usd - usage.cost_usd), _NANO),
            "percent": _percent(usage.cost_usd, usage.cost_limit_usd),
        },
    }


def quota_status_data(totals) -> dict:
    limits = totals.limits
    return {
        "timezone": totals.timezone,
        "limits": {
            "daily_limit": limits.daily_requests,
            "monthly_limit": limits.monthly_requests,
            "daily_cost_limit": _dec(limits.daily_cost, _NANO),
            "monthly_cost_limit": _dec(limits.monthly_cost, _NANO),
            "custom": sorted(limits.custom),
        },
        "daily": _period(totals.daily),
        "monthly": _period(totals.monthly),
    }


class UsageInput(TypedInput):
    # Checked (exists, active) by usage_record in the same SQL step that reads its price.
    provider = serializers.UUIDField(help_text="A catalog provider id.")
    model = serializers.CharField(max_length=200)
    tokens_input = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    tokens_output = serializers.IntegerField(min_value=0, max_value=1_000_000_000)
    requests = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        required=False,
        help_text="Admins only: record the usage of this user (default: yourself).",
    )

    def validate(self, attrs):
        offered = Provider.objects.filter(pk=attrs["provider"]).values_list("model_name", flat=True).first()
        if offered is not None and attrs["model"] != offered:  # an unknown provider: the service says so
            raise serializers.ValidationError({"model": [f"This provider offers the model '{offered}' only."]})
        return attrs


class RecordedOutput(serializers.Serializer):
    requests = serializers.IntegerField()
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()
    cost_usd = money()


class UsageRowTotals(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    provider = serializers.UUIDField()
    model = serializers.CharField()
    requests = serializers.IntegerField(help_text="Requests on this row so far.")
    requests_count = serializers.IntegerField(help_text=deprecated("requests"))
    tokens_input = serializers.IntegerField()
    tokens_output = serializers.IntegerField()
    cost_usd = money()


class AlertRef(serializers.Serializer):
    id = serializers.UUIDField()
    alert_type = serializers.CharField()
    period_start = serializers.DateField()


class UsageRecordOutput(serializers.Serializer):
    user = serializers.UUIDField()
    recorded = RecordedOutput()
    usage = UsageRowTotals(help_text="The (user, provider, model, day) row after this record.")
    daily = PeriodOutput()
    monthly = PeriodOutput()
    alerts = AlertRef(many=True, help_text="Cost alerts this record raised.")


def usage_record_data(result) -> dict:
    return {
        "user": str(result.user_id),
        "recorded": {
            "requests": result.requests,
            "tokens_input": result.tokens_input,
            "tokens_output": result.tokens_output,
            "cost_usd": _dec(result.cost_usd, _NANO),
        },
        "usage": {
            "id": result.usage_id,
            "date": result.date.isoformat(),
            "provider": str(result.provider_id),
            "model": result.model,
            "requests": result.row_requests,
            "requests_count": result.row_requests,
            "tokens_input": result.row_tokens_input,
            "tokens_output": result.row_tokens_output,
            "cost_usd": _dec(result.row_cost_usd, _NANO),
        },
        "daily": _period(result.totals.daily),
        "monthly": _period(result.totals.monthly),
        "alerts": [
            {"id": str(a["id"]), "alert_type": a["alert_type"], "period_start": a["period_start"].isoformat()}
            for a in result.alerts
        ],
    }


class UsageRowOutput(CachedFieldsOutput, serializers.ModelSerializer):
    provider_name = serializers.CharField(source="provider.name", read_only=True)
    requests = serializers.IntegerField(source="requests_count", read_only=True)
    requests_count = serializers.IntegerField(read_only=True, help_text=deprecated("requests"))
    cost_usd = money(read_only=True)

    class Meta:
        model = UsageTracking
        fields = [
            "id",
            "user",
            "provider",
            "provider_name",
            "model",
            "date",
            "requests",
            "requests_count",
            "tokens_input",
            "tokens_output",
            "cost_usd",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Alerts and quotas -----------------------------------------------------------------


class CostAlertOutput(CachedFieldsOutput, serializers.ModelSerializer):
    spent_usd = money(read_only=True)
    limit_usd = money(read_only=True)

    class Meta:
        model = CostAlert
        fields = [
            "id",
            "user",
            "alert_type",
            "threshold_percentage",
            "period_start",
            "triggered_at",
            "spent_usd",
            "limit_usd",
            "acknowledged",
            "acknowledged_at",
            "acknowledged_by",
            "created_at",
        ]
        read_only_fields = fields


class QuotaOutput(CachedFieldsOutput, serializers.ModelSerializer):
    user_email = serializers.EmailField(source="user.email", read_only=True)
    daily_cost_limit = money(read_only=True, allow_null=True)
    monthly_cost_limit = money(read_only=True, allow_null=True)
    effective = serializers.SerializerMethodField()

    class Meta:
        model = UserQuota
        fields = ["id", "user", "user_email", *LIMIT_FIELDS, "effective", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(LimitsOutput)
    def get_effective(self, obj: UserQuota) -> dict:
        limits = limits_for(obj)
        return LimitsOutput(
            {
                "daily_limit": limits.daily_requests,
                "monthly_limit": limits.monthly_requests,
                "daily_cost_limit": limits.daily_cost,
                "monthly_cost_limit": limits.monthly_cost,
                "custom": sorted(limits.custom),
            }
        ).data


def _cost_limit_field(**kwargs):
    return serializers.DecimalField(max_digits=18, decimal_places=6, min_value=Decimal("0"), allow_null=True, **kwargs)


class QuotaLimitsInput(TypedInput):
    daily_limit = serializers.IntegerField(min_value=0, max_value=2_147_483_647, allow_null=True, required=False)
    monthly_limit = serializers.IntegerField(min_value=0, max_value=2_147_483_647, allow_null=True, required=False)
    daily_cost_limit = _cost_limit_field(required=False)
    monthly_cost_limit = _cost_limit_field(required=False)


class QuotaSetInput(QuotaLimitsInput):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
