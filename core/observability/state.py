"""Figures read from the database when /metrics is scraped: the audit chain's backlog,
the last verification, partitions ahead, provider health, the replica.

Computed by the worker answering the scrape (they are the database's state, the same
from every worker), with the selectors the dashboard uses: a handful of cheap queries,
no table scan. If the database cannot be read, tristate_db_up is 0 and the rest is
left out rather than reported as zeros."""

from __future__ import annotations

import logging
import time

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("tristate.observability")


def _gauge(name: str, documentation: str, value: float, labels: dict | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels) if labels else None)
    family.add_metric(list(labels.values()) if labels else [], value)
    return family


def _audit_chain() -> list:
    from audits.partitions import add_months
    from audits.selectors import chain_status, last_verification, partition_summary

    status = chain_status()
    oldest = status["oldest_pending_ts"]
    age = (timezone.now() - oldest).total_seconds() if status["pending"] and oldest else 0.0
    families = [
        _gauge("tristate_audit_pending_entries", "Audit entries committed but not yet sealed.", status["pending"]),
        _gauge(
            "tristate_audit_oldest_pending_age_seconds",
            "Age of the oldest audit entry waiting to be sealed (0 when none waits).",
            max(0.0, age),
        ),
        _gauge("tristate_audit_chain_head_seq", "chain_seq of the newest sealed audit entry.", status["head_seq"]),
    ]
    # Always present (HELP and TYPE), with a value once a verification has run.
    verified_at = GaugeMetricFamily(
        "tristate_audit_last_verification_timestamp_seconds", "Unix time of the last audit chain verification."
    )
    verified_ok = GaugeMetricFamily(
        "tristate_audit_last_verification_ok",
        "1 when the last audit chain verification found the chain intact, 0 when broken.",
    )
    verification = last_verification()
    if verification is not None:
        verified_at.add_metric([], verification.created_at.timestamp())
        verified_ok.add_metric([], 1.0 if verification.ok else 0.0)
    families += [verified_at, verified_ok]
    summary = partition_summary()
    have = {p.month for p in summary.partitions}
    families.append(
        _gauge(
            "tristate_audit_partitions_months_ahead",
            "Months after the current one that already have an audit partition.",
            summary.months_ahead,
        )
    )
    families.append(
        _gauge(
            "tristate_audit_next_month_partition_exists",
            "1 when next month's audit partition exists.",
            1.0 if add_months(summary.current_month, 1) in have else 0.0,
        )
    )
    return families


def _providers() -> list:
    from providers.selectors import provider_list

    healthy = GaugeMetricFamily(
        "tristate_provider_healthy",
        "1 when an active provider's health checks pass, 0 when unhealthy.",
        labels=["provider"],
    )
    failures = GaugeMetricFamily(
        "tristate_provider_consecutive_failures",
        "Failed health probes in a row, per active provider.",
        labels=["provider"],
    )
    for provider in provider_list().filter(is_active=True):
        health = getattr(provider, "health", None)
        healthy.add_metric([provider.name], 1.0 if health is None or health.is_healthy else 0.0)
        failures.add_metric([provider.name], float(health.consecutive_failures if health is not None else 0))
    return [healthy, failures]


def _replica() -> list:
    from django.conf import settings

    from core.replica import replica_health

    health = replica_health()
    configured = _gauge(
        "tristate_db_replica_configured", "1 when a read replica is configured.", 1.0 if health is not None else 0.0
    )
    up = GaugeMetricFamily("tristate_db_replica_up", "1 when the replica answers and replays WAL.")
    usable = GaugeMetricFamily(
        "tristate_db_replica_usable", "1 when the replica is within REPLICA_MAX_LAG_SECONDS and reads may use it."
    )
    lag = GaugeMetricFamily("tristate_db_replica_lag_seconds", "Seconds since the replica last replayed a transaction.")
    if health is not None:  # without a replica the families are there, without values
        seconds = float(health.get("lag_seconds") or 0.0)
        answering = health["status"] == "ok" and bool(health.get("in_recovery"))
        up.add_metric([], 1.0 if answering else 0.0)
        usable.add_metric([], 1.0 if answering and seconds <= settings.REPLICA_MAX_LAG_SECONDS else 0.0)
        if answering:
            lag.add_metric([], seconds)
    return [configured, up, usable, lag]


class StateCollector(Collector):
    """The database-held figures, collected once per scrape."""

    def collect(self):
        started = time.perf_counter()
        families = []
        try:
            families += _audit_chain()
            families += _providers()
            up = 1.0
        except Exception as exc:  # the scrape still answers, with tristate_db_up 0
            logger.warning("metrics: database state unavailable: %s", exc.__class__.__name__)
            up = 0.0
        families.append(_gauge("tristate_db_up", "1 when the primary database answered this scrape's queries.", up))
        families += _replica()
        families.append(
            _gauge(
                "tristate_metrics_state_seconds",
                "Time this scrape spent reading the database-held figures.",
                time.perf_counter() - started,
            )
        )
        yield from families
