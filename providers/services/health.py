"""Provider health: probe results folded into provider_health (rows locked in key order)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction

from accounts.models import User
from audits.services import audit_record
from core.exceptions import ValidationFailed
from providers.models import (
    HEALTH_WINDOW,
    UNHEALTHY_AFTER,
    Provider,
    ProviderHealth,
)
from providers.types import HealthRunReport, ProbeResult

# ---------------------------------------------------------------------------------------
# Health


@transaction.atomic
def provider_health_record(*, results: list[ProbeResult], actor: User | None = None) -> HealthRunReport:
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
    *, concurrency: int = 8, actor: User | None = None, providers: Iterable[Provider] | None = None
) -> HealthRunReport:
    """Probe the given (default: every active) provider's endpoint concurrently, each with
    its own timeout, then record the results. No transaction is open during the probes."""
    from providers import health

    if concurrency < 1:
        raise ValidationFailed.field("concurrency", "Must be at least 1.")
    targets = list(providers) if providers is not None else list(Provider.objects.filter(is_active=True))
    results = health.probe_all(targets, concurrency=concurrency)
    return provider_health_record(results=results, actor=actor)
