"""Providers services: every write of the catalog, users' keys, health, quotas, usage and
cost alerts. Keyword-only, atomic, and audited in the same transaction.

Interfaces other apps call: `quota_check`, `usage_record`, `provider_key_reveal`,
`provider_keys_rewrap` (from `manage.py rotate_kek`)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audits.services import audit_record
from core import crypto
from core.exceptions import Conflict, NotFound, QuotaExceeded, ValidationFailed
from core.validation import clean_text
from providers.models import (
    HEALTH_WINDOW,
    UNHEALTHY_AFTER,
    CostAlert,
    Provider,
    ProviderHealth,
    ProviderType,
    UserProvider,
    UserQuota,
    key_context,
)
from providers.periods import Periods, current_periods

logger = logging.getLogger("tristate.providers")


def _django_errors(exc: DjangoValidationError) -> ValidationFailed:
    details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    first = next(iter(details.values()))[0] if details else "The submitted data is not valid."
    return ValidationFailed(first, details=details)


def _full_clean(instance, exclude: Iterable[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise _django_errors(exc) from None


def _text(name: str, value, *, max_length: int, required: bool = True) -> str:
    return clean_text(value, name, max_length=max_length, required=required, allow_none=False)


# ---------------------------------------------------------------------------------------
# Catalog

PROVIDER_FIELDS = (
    "name",
    "provider_type",
    "model_name",
    "api_endpoint",
    "is_active",
    "is_platform_provided",
    "cost_per_1k_tokens",
    "max_tokens",
    "timeout_seconds",
)


def _provider_name_taken(name: str, exclude_pk=None) -> bool:
    qs = Provider.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _name_conflict(name: str) -> Conflict:
    return Conflict(f"A provider named '{name}' already exists.", details={"name": ["Already taken."]})


def _provider_save(provider: Provider, *, update_fields: list[str] | None = None) -> None:
    try:
        with transaction.atomic():
            provider.save(update_fields=update_fields)
    except IntegrityError:
        # Lost a race on the name (the pre-check passed in both transactions).
        raise _name_conflict(provider.name) from None


@transaction.atomic
def provider_create(
    *,
    actor,
    name: str,
    provider_type: str,
    model_name: str,
    api_endpoint: str,
    is_active: bool = True,
    is_platform_provided: bool = False,
    cost_per_1k_tokens: Decimal = Decimal("0"),
    max_tokens: int = 4096,
    timeout_seconds: int = 30,
) -> Provider:
    provider = Provider(
        name=_text("name", name, max_length=100),
        provider_type=provider_type,
        model_name=_text("model_name", model_name, max_length=200),
        api_endpoint=api_endpoint,
        is_active=is_active,
        is_platform_provided=is_platform_provided,
        cost_per_1k_tokens=cost_per_1k_tokens,
        max_tokens=max_tokens,
        timeout_seconds=timeout_seconds,
    )
    _full_clean(provider)
    if _provider_name_taken(provider.name):
        raise _name_conflict(provider.name)
    _provider_save(provider)
    audit_record(
        entity="provider",
        action="create",
        actor=actor,
        payload={"id": str(provider.pk), **{f: getattr(provider, f) for f in PROVIDER_FIELDS}},
    )
    return provider


@transaction.atomic
def provider_update(*, provider: Provider, actor, **changes) -> Provider:
    unknown = set(changes) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown provider fields: {', '.join(sorted(unknown))}.")
    provider = Provider.objects.select_for_update().get(pk=provider.pk)
    if "name" in changes:
        changes["name"] = _text("name", changes["name"], max_length=100)
    if "model_name" in changes:
        changes["model_name"] = _text("model_name", changes["model_name"], max_length=200)
    before = {name: getattr(provider, name) for name in changes}
    for name, value in changes.items():
        setattr(provider, name, value)
    _full_clean(provider)  # also turns "0.5" into Decimal("0.5"), so the comparison below is by value
    diff = {name: [old, getattr(provider, name)] for name, old in before.items() if old != getattr(provider, name)}
    if not diff:
        return provider
    if "name" in diff and _provider_name_taken(provider.name, exclude_pk=provider.pk):
        raise _name_conflict(provider.name)
    _provider_save(provider, update_fields=[*diff, "updated_at"])
    audit_record(entity="provider", action="update", actor=actor, payload={"id": str(provider.pk), "changes": diff})
    return provider


@transaction.atomic
def provider_delete(*, provider: Provider, actor) -> None:
    pk, name = str(provider.pk), provider.name
    try:
        with transaction.atomic():
            Provider.objects.filter(pk=provider.pk).select_for_update().get().delete()
    except Provider.DoesNotExist:
        raise NotFound("Provider not found.") from None
    except (ProtectedError, IntegrityError):
        raise Conflict(
            "This provider has recorded usage (or sessions) and cannot be deleted; deactivate it instead.",
            code="conflict",
        ) from None
    audit_record(entity="provider", action="delete", actor=actor, payload={"id": pk, "name": name})


# ---------------------------------------------------------------------------------------
# Users' API keys (bring your own key)

# Printable ASCII without spaces, as every provider's keys are. The message never echoes it.
_API_KEY_RE = re.compile(r"[\x21-\x7e]{8,1024}")
_API_KEY_RULE = "An API key is 8 to 1024 printable ASCII characters, without spaces."


def _check_api_key(api_key) -> str:
    if not isinstance(api_key, str) or not _API_KEY_RE.fullmatch(api_key):
        raise ValidationFailed.field("api_key", _API_KEY_RULE)
    return api_key


_PROVIDER_TYPES = frozenset(ProviderType.values)


def _check_provider_type(provider_type) -> str:
    if provider_type not in _PROVIDER_TYPES:
        raise ValidationFailed.field(
            "provider_type", f"Must be one of: {', '.join(ProviderType.values)}.", code="validation_error"
        )
    return provider_type


def _seal_into(row: UserProvider, api_key: str) -> None:
    envelope = crypto.seal(api_key, context=key_context(row.user_id, row.provider_type))
    row.encrypted_api_key = envelope.sealed
    row.encrypted_dek = envelope.wrapped_dek
    row.key_last_4_chars = api_key[-4:]


def _key_payload(row: UserProvider, **extra) -> dict:
    return {
        "id": str(row.pk),
        "user": str(row.user_id),
        "provider_type": row.provider_type,
        "last4": row.key_last_4_chars,
        **extra,
    }


@transaction.atomic
def provider_key_create(
    *, user, provider_type: str, provider_name: str, api_key: str, model_name: str = "", actor=None
) -> UserProvider:
    """Seal and store a user's API key: a fresh data key, AES-256-GCM bound to (user,
    provider_type), the data key wrapped by the KMS. One key per user and provider type."""
    row = UserProvider(
        user=user,
        provider_type=_check_provider_type(provider_type),
        provider_name=_text("provider_name", provider_name, max_length=100),
        model_name=_text("model_name", model_name or "", max_length=200, required=False),
        is_active=True,
    )
    _seal_into(row, _check_api_key(api_key))
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            f"You already have a {provider_type} key; replace it with PATCH or delete it first.",
            details={"provider_type": ["A key for this provider type exists."]},
        ) from None
    audit_record(
        entity="user_provider",
        action="create",
        actor=actor if actor is not None else user,
        payload=_key_payload(row, provider_name=row.provider_name, model_name=row.model_name),
    )
    return row


@transaction.atomic
def provider_key_update(
    *,
    user_provider: UserProvider,
    actor,
    is_active: bool | None = None,
    api_key: str | None = None,
    provider_name: str | None = None,
    model_name: str | None = None,
) -> UserProvider:
    """Activate/deactivate, rename, or replace the key (a new data key is made; the old
    ciphertext is gone). provider_type is the key's identity and does not change."""
    row = UserProvider.objects.select_for_update().get(pk=user_provider.pk)
    changed: list[str] = []
    if is_active is not None and not isinstance(is_active, bool):
        raise ValidationFailed.field("is_active", "Must be a boolean.")
    if is_active is not None and is_active != row.is_active:
        row.is_active = is_active
        changed.append("is_active")
    if provider_name is not None:
        value = _text("provider_name", provider_name, max_length=100)
        if value != row.provider_name:
            row.provider_name = value
            changed.append("provider_name")
    if model_name is not None:
        value = _text("model_name", model_name, max_length=200, required=False)
        if value != row.model_name:
            row.model_name = value
            changed.append("model_name")
    if api_key is not None:
        _seal_into(row, _check_api_key(api_key))
        changed += ["api_key"]
    if not changed:
        return row
    update_fields = [f for f in changed if f != "api_key"]
    if "api_key" in changed:
        update_fields += ["encrypted_api_key", "encrypted_dek", "key_last_4_chars"]
    row.save(update_fields=[*update_fields, "updated_at"])
    audit_record(
        entity="user_provider",
        action="update",
        actor=actor,
        payload=_key_payload(row, fields=changed, is_active=row.is_active),
    )
    return row


@transaction.atomic
def provider_key_delete(*, user_provider: UserProvider, actor) -> None:
    payload = _key_payload(user_provider)
    deleted, _ = UserProvider.objects.filter(pk=user_provider.pk).delete()
    if not deleted:
        raise NotFound("Key not found.")
    audit_record(entity="user_provider", action="delete", actor=actor, payload=payload)


@transaction.atomic
def provider_key_reveal(
    *,
    actor=None,
    purpose: str = "",
    user_provider: UserProvider | None = None,
    user=None,
    provider_type: str | None = None,
) -> str:
    """The plaintext API key, for the code that calls the provider. Audited (who, which
    key, why); never log or return it further. Give either `user_provider` or `user` and
    `provider_type`. Refuses inactive keys; a tampered or moved ciphertext raises
    core.crypto.DecryptionError (never garbage)."""
    if user_provider is None:
        if user is None or provider_type is None:
            raise ValidationFailed("provider_key_reveal needs user_provider, or user and provider_type.")
        user_provider = UserProvider.objects.filter(user=user, provider_type=provider_type).first()
        if user_provider is None:
            raise NotFound(f"No {provider_type} key is stored for this user.")
    if not user_provider.is_active:
        raise Conflict("This key is deactivated.")
    try:
        plaintext = crypto.open_envelope(
            crypto.Envelope(sealed=user_provider.encrypted_api_key, wrapped_dek=user_provider.encrypted_dek),
            context=user_provider.context,
        )
    except crypto.DecryptionError as exc:
        logger.error("user_providers row %s does not decrypt: %s", user_provider.pk, exc)
        raise
    audit_record(
        entity="user_provider",
        action="reveal",
        actor=actor,
        payload=_key_payload(user_provider, purpose=(purpose or "")[:200]),
    )
    return plaintext


@dataclass
class RewrapReport:
    kek_id: str
    rewrapped: int = 0
    failed: list[str] = field(default_factory=list)


def provider_keys_rewrap(
    *,
    batch_size: int = 500,
    dry_run: bool = False,
    actor=None,
    progress: Callable[[int], None] | None = None,
) -> RewrapReport:
    """Re-wrap every user key's data key under the KMS's current master key; the sealed
    API keys are untouched. Batches of `batch_size`, each its own audited transaction,
    so an interrupted run resumes where it stopped (rows already under the current key
    are skipped). A row whose data key does not unwrap is reported, not touched."""
    if batch_size < 1:
        raise ValidationFailed.field("batch_size", "Must be at least 1.")
    kek_id = crypto.get_kms().current_key_id()
    prefix = f"{crypto.VERSION}:{kek_id}:"
    report = RewrapReport(kek_id=kek_id)
    last_pk = None
    while True:
        with transaction.atomic():
            qs = UserProvider.objects.exclude(encrypted_dek__startswith=prefix).order_by("pk")
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            batch = list(
                qs.select_for_update(of=("self",)).only("pk", "user_id", "provider_type", "encrypted_dek")[:batch_size]
            )
            if not batch:
                return report
            last_pk = batch[-1].pk
            done = []
            for row in batch:
                try:
                    row.encrypted_dek = crypto.rewrap(row.encrypted_dek, context=row.context)
                except crypto.DecryptionError as exc:
                    logger.error("rotate_kek: user_providers row %s cannot be re-wrapped: %s", row.pk, exc)
                    report.failed.append(str(row.pk))
                    continue
                done.append(row)
            if done and not dry_run:
                UserProvider.objects.bulk_update(done, ["encrypted_dek"])
                audit_record(
                    entity="user_provider",
                    action="rewrap",
                    actor=actor,
                    payload={"count": len(done), "kek_id": kek_id, "failed": len(batch) - len(done)},
                )
            report.rewrapped += len(done)
        if progress:
            progress(len(batch))


# ---------------------------------------------------------------------------------------
# Health


@dataclass(frozen=True)
class ProbeResult:
    provider_id: object
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


@transaction.atomic
def provider_health_record(*, results: list[ProbeResult], actor=None) -> HealthRunReport:
    """Fold probe results into provider_health: rows locked in primary-key order, one
    audit entry for the run (with the providers that became unhealthy or recovered)."""
    report = HealthRunReport()
    if not results:
        return report
    by_id = {r.provider_id: r for r in results}
    ProviderHealth.objects.bulk_create(
        [ProviderHealth(provider_id=pid) for pid in by_id], ignore_conflicts=True, batch_size=500
    )
    rows = ProviderHealth.objects.select_for_update().filter(provider_id__in=list(by_id)).order_by("pk")
    for row in rows:
        result = by_id[row.provider_id]
        was_healthy = row.is_healthy
        recent = (row.recent_checks + ("1" if result.ok else "0"))[-HEALTH_WINDOW:]
        row.recent_checks = recent
        row.checks_total += 1
        row.last_check_at = result.checked_at
        row.response_time_ms = result.response_time_ms
        if result.ok:
            row.consecutive_failures = 0
            row.last_success_at = result.checked_at
            row.last_error = ""
        else:
            row.consecutive_failures += 1
            row.failures_total += 1
            row.last_error = result.error[:500]
        row.is_healthy = row.consecutive_failures < UNHEALTHY_AFTER
        row.success_rate = (Decimal(recent.count("1")) * 100 / len(recent)).quantize(Decimal("0.01"))
        row.save()
        report.checked += 1
        status = row.status
        setattr(report, status, getattr(report, status) + 1)
        if was_healthy and not row.is_healthy:
            report.became_unhealthy.append(str(row.provider_id))
        elif not was_healthy and row.is_healthy:
            report.recovered.append(str(row.provider_id))
    audit_record(entity="provider_health", action="check", actor=actor, payload=report.as_payload())
    return report


def providers_check_health(
    *, concurrency: int = 8, actor=None, providers: Iterable[Provider] | None = None
) -> HealthRunReport:
    """Probe the given (default: every active) provider's endpoint concurrently, each with
    its own timeout, then record the results. No transaction is open during the probes."""
    from providers import health

    if concurrency < 1:
        raise ValidationFailed.field("concurrency", "Must be at least 1.")
    targets = list(providers) if providers is not None else list(Provider.objects.filter(is_active=True))
    results = health.probe_all(targets, concurrency=concurrency)
    return provider_health_record(results=results, actor=actor)


# ---------------------------------------------------------------------------------------
# Quotas

LIMIT_FIELDS = ("daily_limit", "monthly_limit", "daily_cost_limit", "monthly_cost_limit")
_MAX_COST_LIMIT = Decimal("999999999999")


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


def _clean_limits(values: dict) -> dict:
    cleaned = {}
    for name, value in values.items():
        if value is None:
            cleaned[name] = None
        elif name in ("daily_limit", "monthly_limit"):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2_147_483_647:
                raise ValidationFailed.field(name, "A whole number of requests, 0 or more (or null for the default).")
            cleaned[name] = value
        else:
            try:
                amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
            except (InvalidOperation, ValueError):
                amount = None
            if (
                amount is None
                or not amount.is_finite()
                or amount < 0
                or amount > _MAX_COST_LIMIT
                or amount.as_tuple().exponent < -6
            ):
                raise ValidationFailed.field(name, "A USD amount, 0 or more, with at most 6 decimals (or null).")
            cleaned[name] = amount
    return cleaned


def _quota_payload(quota: UserQuota, **extra) -> dict:
    return {"id": str(quota.pk), "user": str(quota.user_id), **{f: getattr(quota, f) for f in LIMIT_FIELDS}, **extra}


@transaction.atomic
def quota_set(
    *,
    user,
    actor,
    daily_limit: int | None = None,
    monthly_limit: int | None = None,
    daily_cost_limit: Decimal | None = None,
    monthly_cost_limit: Decimal | None = None,
) -> tuple[UserQuota, bool]:
    """Set (create or replace) a user's limits; None means the settings default.
    One INSERT ... ON CONFLICT, so concurrent admins cannot create two rows.
    Returns (quota, created)."""
    values = _clean_limits(
        {
            "daily_limit": daily_limit,
            "monthly_limit": monthly_limit,
            "daily_cost_limit": daily_cost_limit,
            "monthly_cost_limit": monthly_cost_limit,
        }
    )
    from core.ids import uuid7

    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO providers.user_quotas AS q
                   (id, user_id, daily_limit, monthly_limit, daily_cost_limit, monthly_cost_limit,
                    created_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (user_id) DO UPDATE SET
                   daily_limit = EXCLUDED.daily_limit, monthly_limit = EXCLUDED.monthly_limit,
                   daily_cost_limit = EXCLUDED.daily_cost_limit, monthly_cost_limit = EXCLUDED.monthly_cost_limit,
                   updated_at = EXCLUDED.updated_at
            RETURNING q.id, (q.xmax = 0)
            """,
            [uuid7(), user.pk, *values.values(), now, now],
        )
        pk, created = cursor.fetchone()
    quota = UserQuota.objects.get(pk=pk)
    audit_record(entity="user_quota", action="set", actor=actor, payload=_quota_payload(quota, created=created))
    return quota, created


@transaction.atomic
def quota_update(*, quota: UserQuota, actor, **changes) -> UserQuota:
    unknown = set(changes) - set(LIMIT_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown quota fields: {', '.join(sorted(unknown))}.")
    quota = UserQuota.objects.select_for_update().get(pk=quota.pk)
    cleaned = _clean_limits(changes)
    diff = {k: [getattr(quota, k), v] for k, v in cleaned.items() if getattr(quota, k) != v}
    if not diff:
        return quota
    for name, (_, value) in diff.items():
        setattr(quota, name, value)
    quota.save(update_fields=[*diff, "updated_at"])
    audit_record(
        entity="user_quota",
        action="update",
        actor=actor,
        payload={"id": str(quota.pk), "user": str(quota.user_id), "changes": diff},
    )
    return quota


@transaction.atomic
def quota_delete(*, quota: UserQuota, actor) -> None:
    """Back to the settings defaults."""
    payload = _quota_payload(quota)
    deleted, _ = UserQuota.objects.filter(pk=quota.pk).delete()
    if not deleted:
        raise NotFound("Quota not found.")
    audit_record(entity="user_quota", action="delete", actor=actor, payload=payload)


# ---------------------------------------------------------------------------------------
# Quota check and usage recording


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


def _check_count(name: str, value, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationFailed.field(name, f"A whole number from {minimum} to {maximum}.")
    return value


def quota_check(*, user, requests: int = 1, cost: Decimal = Decimal("0")) -> None:
    """Raise QuotaExceeded (Retry-After = seconds to the period's reset) if `requests` more
    requests costing `cost` USD would exceed a daily or monthly limit, or if a cost limit
    is already used up. A pre-flight check (no lock): the exact, race-free gate is
    usage_record, which admits the request that crosses a cost limit (see docs)."""
    from providers.selectors import usage_totals

    _check_count("requests", requests, minimum=0, maximum=1_000_000)
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


_MAX_TOKENS_PER_RECORD = 1_000_000_000
_MAX_REQUESTS_PER_RECORD = 1_000_000


@transaction.atomic
def usage_record(
    *,
    user,
    provider: Provider | uuid.UUID | str,
    model: str,
    tokens_input: int,
    tokens_output: int,
    requests: int = 1,
    actor=None,
) -> UsageResult:
    """Check the quota and record usage in one race-free step (SQL function
    providers.usage_record): a per-user lock, exact period sums, one upsert on
    (user, provider, model, date), and the cost alerts reached. Over quota →
    QuotaExceeded and nothing is written. Cost = tokens / 1000 × the provider's price,
    read in the same step. `provider` is a catalog entry or its id; an unknown or
    inactive one is a ValidationFailed on `provider`."""
    model = _text("model", model, max_length=200)
    tokens_input = _check_count("tokens_input", tokens_input, minimum=0, maximum=_MAX_TOKENS_PER_RECORD)
    tokens_output = _check_count("tokens_output", tokens_output, minimum=0, maximum=_MAX_TOKENS_PER_RECORD)
    requests = _check_count("requests", requests, minimum=1, maximum=_MAX_REQUESTS_PER_RECORD)
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


# ---------------------------------------------------------------------------------------
# Cost alerts


@transaction.atomic
def cost_alert_acknowledge(*, alert: CostAlert, actor) -> CostAlert:
    """Acknowledge an alert. Idempotent: a second acknowledgement changes nothing and is
    not audited again (conditional UPDATE, so two concurrent ones audit once)."""
    now = timezone.now()
    updated = CostAlert.objects.filter(pk=alert.pk, acknowledged=False).update(
        acknowledged=True, acknowledged_at=now, acknowledged_by_id=getattr(actor, "pk", actor)
    )
    alert = CostAlert.objects.get(pk=alert.pk)
    if updated:
        audit_record(
            entity="cost_alert",
            action="acknowledge",
            actor=actor,
            payload={"id": str(alert.pk), "user": str(alert.user_id), "alert_type": alert.alert_type},
        )
    return alert


# ---------------------------------------------------------------------------------------
# Bulk import (the legacy import)


@dataclass(frozen=True)
class ProviderKeyImport:
    """A user's key to store; `api_key` is the plaintext (decrypted by the importer)."""

    user_id: object
    provider_type: str
    provider_name: str
    api_key: str
    model_name: str = ""

    def __repr__(self) -> str:  # never print the key
        return f"ProviderKeyImport(user_id={self.user_id!r}, provider_type={self.provider_type!r})"


@transaction.atomic
def provider_keys_import(*, keys: list[ProviderKeyImport], actor, context: dict | None = None) -> list:
    """Store many users' API keys (legacy import) with provider_key_create's rules: known
    provider type, names, a well-formed key, each sealed under envelope encryption (a
    fresh data key, bound to its user and provider type). One key per user and type: a
    user who already has one keeps it and the imported one is refused. One INSERT, one
    audit entry (ids and last four characters only). Returns core.bulk.RowResults."""
    from core import bulk

    results: list = [None] * len(keys)
    rows = []
    seen: set[tuple[str, str]] = set()
    for index, key in enumerate(keys):
        try:
            provider_type = _check_provider_type(key.provider_type)
            provider_name = _text("provider_name", key.provider_name, max_length=100)
            model_name = _text("model_name", key.model_name or "", max_length=200, required=False)
            api_key = _check_api_key(key.api_key)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        pair = (str(key.user_id), provider_type)
        if pair in seen:
            results[index] = bulk.refused(f"provider_type: the user already has a {provider_type} key")
            continue
        seen.add(pair)
        envelope = crypto.seal(api_key, context=key_context(key.user_id, provider_type))
        rows.append(
            (
                index,
                [
                    _new_key_id(),
                    key.user_id,
                    provider_type,
                    provider_name,
                    model_name,
                    envelope.sealed,
                    envelope.wrapped_dek,
                    api_key[-4:],
                ],
            )
        )
    if not rows:
        return results
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO user_providers (id, created_at, updated_at, user_id, provider_type, provider_name, model_name,
                                        encrypted_api_key, encrypted_dek, key_last_4_chars, is_active)
            SELECT (r->>0)::uuid, %s, %s, (r->>1)::uuid, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, true
            FROM jsonb_array_elements(%s::jsonb) AS r
            ON CONFLICT (user_id, provider_type) DO NOTHING
            RETURNING id
            """,
            [now, now, bulk.json_rows([row for _, row in rows])],
        )
        inserted = {r[0] for r in cursor.fetchall()}
    done = []
    for index, row in rows:
        if row[0] in inserted:
            results[index] = bulk.created(row[0])
            done.append({"id": str(row[0]), "user": str(row[1]), "provider_type": row[2], "last4": row[7]})
        else:
            results[index] = bulk.refused(f"provider_type: the user already has a {row[2]} key")
    if done:
        audit_record(
            entity="user_provider",
            action="import",
            actor=actor,
            payload={**(context or {}), "count": len(done), "keys": done},
        )
    return results


def _new_key_id():
    from core.ids import uuid7

    return uuid7()


@dataclass(frozen=True)
class UsageImport:
    """One usage counter line to add: a day's requests, tokens and cost of a user with a
    provider type and model. The catalog provider is found by (type, model)."""

    user_id: object
    provider_type: str
    model: str
    date: date
    requests: int
    tokens_input: int
    tokens_output: int
    cost_usd: Decimal


# Catalog entries made for imported usage whose (type, model) the catalog lacks: inactive,
# free, so nothing probes or bills them until an administrator reviews them.
_IMPORT_ENDPOINTS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "huggingface": "https://api-inference.huggingface.co",
    "local": "http://localhost:8080",
}
_IMPORT_MAX_COUNT = 10**15
_NINE_PLACES = Decimal("0.000000001")


def catalog_provider_for_import(*, provider_type: str, model: str, actor) -> Provider:
    """The catalog entry imported usage of (type, model) is counted under: the oldest entry
    with that type and model name (case-insensitive), else a new inactive entry
    "<Type> <model> (imported)" (created through provider_create, audited). Writers
    running side by side wait for each other here (advisory lock until commit), so one
    entry is made per (type, model)."""
    from providers.locks import IMPORT_CATALOG_LOCK

    def oldest():
        return (
            Provider.objects.filter(provider_type=provider_type, model_name__iexact=model)
            .order_by("created_at", "id")
            .first()
        )

    found = oldest()
    if found is not None:
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [IMPORT_CATALOG_LOCK, f"{provider_type}|{model.lower()}"]
        )
    found = oldest()  # made by a writer that held the lock before us
    if found is not None:
        return found
    label = ProviderType(provider_type).label
    name = f"{label} {model} (imported)"[:100]
    suffix = 1
    while _provider_name_taken(name):
        suffix += 1
        name = f"{label} {model} (imported {suffix})"[:100]
    return provider_create(
        actor=actor,
        name=name,
        provider_type=provider_type,
        model_name=model,
        api_endpoint=_IMPORT_ENDPOINTS[provider_type],
        is_active=False,
    )


def _usage_checked(row: UsageImport) -> tuple:
    provider_type = _check_provider_type(row.provider_type)
    model = _text("model", row.model, max_length=200)
    if not isinstance(row.date, date) or isinstance(row.date, datetime):
        raise ValidationFailed.field("date", "A calendar date.")
    counts = [
        _check_count(name, value, minimum=0, maximum=_IMPORT_MAX_COUNT)
        for name, value in (
            ("requests", row.requests),
            ("tokens_input", row.tokens_input),
            ("tokens_output", row.tokens_output),
        )
    ]
    cost = row.cost_usd
    if not isinstance(cost, Decimal) or not cost.is_finite() or cost < 0 or cost >= Decimal(10) ** 15:
        raise ValidationFailed.field("cost_usd", "A non-negative amount below 10^15 USD.")
    if cost.quantize(_NINE_PLACES) != cost:
        raise ValidationFailed.field("cost_usd", "At most 9 decimal places.")
    return provider_type, model, *counts, cost


@transaction.atomic
def usage_import(*, rows: list[UsageImport], actor, context: dict | None = None) -> list:
    """Add many past usage lines into the counters (legacy import): usage_tracking's one
    upsert per (user, provider, model, date), INSERT ... ON CONFLICT DO UPDATE adding to
    whatever is there, so lines of the same key (in the batch, or counted before, live or
    imported) add up and concurrent recorders never lose an increment. History is not
    re-judged: no quota check, no cost alerts, and the recorded cost is kept as it was
    billed. Rows are pre-aggregated and upserted in key order (no deadlock with another
    batch). One audit entry. Returns core.bulk.RowResults (the counter row's id)."""
    from core import bulk

    results: list = [None] * len(rows)
    providers: dict[tuple[str, str], object] = {}
    totals: dict[tuple, list] = {}
    members: dict[tuple, list[int]] = {}
    for index, row in enumerate(rows):
        try:
            provider_type, model, requests, tokens_in, tokens_out, cost = _usage_checked(row)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        pk = (provider_type, model.lower())
        if pk not in providers:
            providers[pk] = str(catalog_provider_for_import(provider_type=provider_type, model=model, actor=actor).pk)
        # Ids as text: they key the aggregation and travel as JSON (cheaper than UUID objects).
        key = (str(row.user_id), providers[pk], model, row.date)
        acc = totals.setdefault(key, [0, 0, 0, Decimal(0)])
        acc[0] += requests
        acc[1] += tokens_in
        acc[2] += tokens_out
        acc[3] += cost
        members.setdefault(key, []).append(index)
    if not totals:
        return results
    keys = sorted(totals)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO usage_tracking AS u (user_id, provider_id, model, date, requests_count, tokens_input,
                                             tokens_output, cost_usd, created_at, updated_at)
            SELECT (r->>0)::uuid, (r->>1)::uuid, r->>2, (r->>3)::date, (r->>4)::bigint, (r->>5)::bigint,
                   (r->>6)::bigint, (r->>7)::numeric, %s, %s
            FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS x(r, n)
            ORDER BY n
            ON CONFLICT (user_id, provider_id, model, date) DO UPDATE SET
                requests_count = u.requests_count + EXCLUDED.requests_count,
                tokens_input = u.tokens_input + EXCLUDED.tokens_input,
                tokens_output = u.tokens_output + EXCLUDED.tokens_output,
                cost_usd = u.cost_usd + EXCLUDED.cost_usd,
                updated_at = EXCLUDED.updated_at
            RETURNING u.user_id::text, u.provider_id::text, u.model, u.date, u.id
            """,
            [now, now, bulk.json_rows([[*key, *totals[key]] for key in keys])],
        )
        row_ids = {(u, p, m, d): i for u, p, m, d, i in cursor.fetchall()}
    for key in keys:
        for index in members[key]:
            results[index] = bulk.created(row_ids.get(key))
    audit_record(
        entity="usage",
        action="import",
        actor=actor,
        payload={
            **(context or {}),
            "lines": sum(len(v) for v in members.values()),
            "rows": len(keys),
            "requests": sum(t[0] for t in totals.values()),
            "tokens_input": sum(t[1] for t in totals.values()),
            "tokens_output": sum(t[2] for t in totals.values()),
            "cost": str(sum((t[3] for t in totals.values()), Decimal(0))),
        },
    )
    return results
