"""Providers services: every write of the catalog, users' keys, health, quotas, usage and
cost alerts. Keyword-only, atomic, and audited in the same transaction; one module per
sub-domain. The legacy bulk import lives in legacy/bulk/providers.py.

Interfaces other apps call: `quota_check`, `usage_record`, `provider_key_reveal`,
`provider_keys_rewrap` (from `manage.py rotate_kek`)."""

from providers.services.alerts import cost_alert_acknowledge
from providers.services.catalog import (
    PROVIDER_FIELDS,
    provider_create,
    provider_delete,
    provider_update,
)
from providers.services.health import provider_health_record, providers_check_health
from providers.services.keys import (
    provider_key_create,
    provider_key_delete,
    provider_key_reveal,
    provider_key_update,
    provider_keys_rewrap,
)
from providers.services.quotas import quota_delete, quota_set, quota_update
from providers.services.usage import quota_check, usage_record
from providers.types import (
    LIMIT_FIELDS,
    HealthRunReport,
    Limits,
    PeriodUsage,
    ProbeResult,
    RewrapReport,
    UsageResult,
    UsageTotals,
    default_limits,
    limits_for,
)

__all__ = [
    "LIMIT_FIELDS",
    "PROVIDER_FIELDS",
    "HealthRunReport",
    "Limits",
    "PeriodUsage",
    "ProbeResult",
    "RewrapReport",
    "UsageResult",
    "UsageTotals",
    "cost_alert_acknowledge",
    "default_limits",
    "limits_for",
    "provider_create",
    "provider_delete",
    "provider_health_record",
    "provider_key_create",
    "provider_key_delete",
    "provider_key_reveal",
    "provider_key_update",
    "provider_keys_rewrap",
    "provider_update",
    "providers_check_health",
    "quota_check",
    "quota_delete",
    "quota_set",
    "quota_update",
    "usage_record",
]
