"""Providers: the catalog of AI providers and its health, users' own API keys (BYOK, under
envelope encryption), quotas, usage counters and cost alerts (SPEC §7).

Writes go through providers.services only; the usage counters and cost alerts are
written by one SQL function (migration 0001, `providers.usage_record`) so that the quota
check, the upsert and the alerts are one race-free step (see docs/providers.md)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models.functions import Lower

from core.models import TimestampedModel, UUIDModel, choices_check


class ProviderType(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    HUGGINGFACE = "huggingface", "Hugging Face"
    LOCAL = "local", "Local"


def key_context(user_id, provider_type: str) -> str:
    """Associated data sealing a user's API key: binds the ciphertext and its wrapped
    data key to that user and provider type, so a key copied to another row fails to open."""
    return f"user_providers|{user_id}|{provider_type}"


class Provider(TimestampedModel):
    """A catalog entry: a provider endpoint and model, with its price. Admin-managed."""

    name = models.CharField(max_length=100)
    provider_type = models.CharField(max_length=16, choices=ProviderType.choices)
    model_name = models.CharField(max_length=200)
    # Probed by `manage.py check_providers`; http(s) only.
    api_endpoint = models.URLField(max_length=500, validators=[URLValidator(schemes=["http", "https"])])
    is_active = models.BooleanField(default=True)
    is_platform_provided = models.BooleanField(default=False)
    # USD per 1,000 tokens (input and output alike). Exact decimal, never float.
    cost_per_1k_tokens = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))]
    )
    max_tokens = models.PositiveIntegerField(default=4096, validators=[MinValueValidator(1)])
    timeout_seconds = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(300)]
    )

    class Meta:
        db_table = "providers"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["provider_type"], name="providers_provider_type_idx"),
            models.Index(fields=["is_active"], name="providers_is_active_idx"),
        ]
        constraints = [
            # "OpenAI GPT-4o" and "openai gpt-4o" are the same entry to people.
            models.UniqueConstraint(Lower("name"), name="providers_name_lower_uniq"),
            choices_check("provider_type", ProviderType, "providers"),
            models.CheckConstraint(
                condition=models.Q(cost_per_1k_tokens__gte=0), name="providers_cost_nonnegative_check"
            ),
            models.CheckConstraint(condition=models.Q(max_tokens__gte=1), name="providers_max_tokens_positive_check"),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gte=1, timeout_seconds__lte=300),
                name="providers_timeout_range_check",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="providers_name_nonempty_check"),
        ]

    def __str__(self) -> str:
        return self.name


class UserProvider(TimestampedModel):
    """A user's own API key for a provider type (bring your own key).

    The key is sealed with AES-256-GCM under a fresh data key (`encrypted_api_key`), the
    data key wrapped by the KMS (`encrypted_dek`, which names its master key); only the
    last four characters are kept in clear. Neither column is ever rendered or returned."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_keys", db_index=False
    )
    provider_name = models.CharField(max_length=100)
    provider_type = models.CharField(max_length=16, choices=ProviderType.choices)
    model_name = models.CharField(max_length=200, blank=True, default="")
    encrypted_api_key = models.TextField()
    encrypted_dek = models.TextField()
    key_last_4_chars = models.CharField(max_length=4)
    is_active = models.BooleanField(default=True)

    class Meta:
        db_table = "user_providers"
        ordering = ["provider_type"]
        constraints = [
            # Also the index behind "a user's keys" lists (user is its leading column).
            models.UniqueConstraint(fields=["user", "provider_type"], name="user_providers_user_type_uniq"),
            choices_check("provider_type", ProviderType, "user_providers"),
            models.CheckConstraint(
                condition=models.Q(encrypted_api_key__startswith="ENC4:", encrypted_dek__startswith="ENC4:"),
                name="user_providers_sealed_format_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider_name} ({self.provider_type}) ••••{self.key_last_4_chars}"

    @property
    def context(self) -> str:
        return key_context(self.user_id, self.provider_type)


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown (never checked)"
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded (recent failures)"
    UNHEALTHY = "unhealthy", "Unhealthy"


# Consecutive failed probes after which a provider is unhealthy (SPEC §7).
UNHEALTHY_AFTER = 3
# Number of most recent probes the success rate is computed over.
HEALTH_WINDOW = 100


class ProviderHealth(models.Model):
    """The latest probe results of a catalog provider (one row per provider), written by
    `manage.py check_providers`. success_rate is a percentage over the last HEALTH_WINDOW
    probes (`recent_checks`, '1' success / '0' failure, newest last)."""

    provider = models.OneToOneField(Provider, on_delete=models.CASCADE, primary_key=True, related_name="health")
    is_healthy = models.BooleanField(default=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    success_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    recent_checks = models.CharField(max_length=HEALTH_WINDOW, blank=True, default="")
    checks_total = models.BigIntegerField(default=0)
    failures_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "provider_health"
        verbose_name_plural = "provider health"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(success_rate__gte=0, success_rate__lte=100) | models.Q(success_rate__isnull=True),
                name="provider_health_success_rate_range_check",
            ),
            models.CheckConstraint(
                condition=models.Q(recent_checks__regex=r"^[01]*$"), name="provider_health_recent_checks_format_check"
            ),
            models.CheckConstraint(
                condition=models.Q(failures_total__gte=0, failures_total__lte=models.F("checks_total")),
                name="provider_health_totals_check",
            ),
        ]

    def __str__(self) -> str:
        return f"health of {self.provider_id}: {self.status}"

    @property
    def status(self) -> str:
        if self.last_check_at is None:
            return HealthStatus.UNKNOWN
        if self.consecutive_failures >= UNHEALTHY_AFTER:
            return HealthStatus.UNHEALTHY
        if self.consecutive_failures > 0:
            return HealthStatus.DEGRADED
        return HealthStatus.HEALTHY


class UserQuota(TimestampedModel):
    """A user's limits. No row, or a NULL column, means the default from settings
    (QUOTA_DEFAULT_*). Request limits are counts; cost limits are USD."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    daily_limit = models.PositiveIntegerField(null=True, blank=True)
    monthly_limit = models.PositiveIntegerField(null=True, blank=True)
    daily_cost_limit = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )
    monthly_cost_limit = models.DecimalField(
        max_digits=18, decimal_places=6, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        db_table = "user_quotas"
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["user"], name="user_quotas_user_uniq"),
            models.CheckConstraint(
                condition=(models.Q(daily_cost_limit__gte=0) | models.Q(daily_cost_limit__isnull=True))
                & (models.Q(monthly_cost_limit__gte=0) | models.Q(monthly_cost_limit__isnull=True)),
                name="user_quotas_cost_nonnegative_check",
            ),
        ]

    def __str__(self) -> str:
        return f"quota of {self.user_id}"


class UsageTracking(models.Model):
    """Usage counters: one row per (user, provider, model, day in QUOTA_TIMEZONE), only ever
    incremented by one atomic upsert (providers.usage_record in SQL)."""

    id = models.BigAutoField(primary_key=True)  # bigint GENERATED BY DEFAULT AS IDENTITY
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Money history outlives catalog changes: a provider with usage cannot be deleted.
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+", db_index=False)
    model = models.CharField(max_length=200)
    date = models.DateField()
    requests_count = models.BigIntegerField(default=0)
    tokens_input = models.BigIntegerField(default=0)
    tokens_output = models.BigIntegerField(default=0)
    # Exact: tokens × a 6-decimal price / 1000 has at most 9 decimals.
    cost_usd = models.DecimalField(max_digits=24, decimal_places=9, default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "usage_tracking"
        ordering = ["-date", "-id"]
        verbose_name = "usage record"
        verbose_name_plural = "usage records"  # "2 usage records" in the console
        indexes = [
            # Quota sums and "my usage" lists: one user's rows of a date range. The
            # counters are deliberately not INCLUDEd: updates of unindexed columns stay
            # HOT, which keeps the hot upsert cheap.
            models.Index(fields=["user", "date"], name="usage_tracking_user_date_idx"),
            # Admin lists, reconciliation and the date hierarchy.
            models.Index(fields=["date"], name="usage_tracking_date_idx"),
            # Filters by provider, and the PROTECT check when a provider is deleted.
            models.Index(fields=["provider", "date"], name="usage_tracking_provider_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "provider", "model", "date"], name="usage_tracking_user_provider_model_date_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(requests_count__gte=0, tokens_input__gte=0, tokens_output__gte=0, cost_usd__gte=0),
                name="usage_tracking_nonnegative_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.user_id} {self.model}: {self.requests_count} req"


class AlertType(models.TextChoices):
    DAILY_80 = "daily_80", "Daily 80 %"
    DAILY_90 = "daily_90", "Daily 90 %"
    DAILY_100 = "daily_100", "Daily 100 %"
    MONTHLY_80 = "monthly_80", "Monthly 80 %"
    MONTHLY_90 = "monthly_90", "Monthly 90 %"
    MONTHLY_100 = "monthly_100", "Monthly 100 %"


ALERT_THRESHOLDS = (80, 90, 100)


class CostAlert(UUIDModel):
    """A cost limit's threshold crossed. Exactly one per (user, type, period): the unique
    constraint decides, not a Python check, so concurrent recorders cannot duplicate it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    alert_type = models.CharField(max_length=16, choices=AlertType.choices)
    threshold_percentage = models.PositiveSmallIntegerField()
    # First day of the period (the day, or the 1st of the month) in QUOTA_TIMEZONE.
    period_start = models.DateField()
    triggered_at = models.DateTimeField()
    spent_usd = models.DecimalField(max_digits=24, decimal_places=9)
    limit_usd = models.DecimalField(max_digits=18, decimal_places=6)
    acknowledged = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        db_table = "cost_alerts"
        ordering = ["-triggered_at"]
        indexes = [
            models.Index(fields=["user", "triggered_at"], name="cost_alerts_user_triggered_idx"),
            models.Index(fields=["triggered_at"], name="cost_alerts_triggered_at_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "alert_type", "period_start"], name="cost_alerts_user_type_period_uniq"
            ),
            choices_check("alert_type", AlertType, "cost_alerts"),
            # The percentage is the one the type names (daily_80 → 80, ...).
            models.CheckConstraint(
                condition=models.Q(alert_type__endswith="_80", threshold_percentage=80)
                | models.Q(alert_type__endswith="_90", threshold_percentage=90)
                | models.Q(alert_type__endswith="_100", threshold_percentage=100),
                name="cost_alerts_threshold_matches_type_check",
            ),
            models.CheckConstraint(
                condition=models.Q(acknowledged=True, acknowledged_at__isnull=False)
                | models.Q(acknowledged=False, acknowledged_at__isnull=True),
                name="cost_alerts_acknowledged_at_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert_type} of {self.user_id} from {self.period_start}"

    @property
    def period(self) -> str:
        return self.alert_type.split("_", 1)[0]
