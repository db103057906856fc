"""Every metric this process records, defined once with prometheus-client.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes prometheus-client keep each worker's
figures in memory-mapped files of that directory, and /metrics adds them up across
workers (docs/observability/README.md); without it they live in this process only
(runserver, tests). The multiprocess choice is made when prometheus_client is first
imported, so the variable must be set before the process starts.

Figures read from the database at scrape time (the audit chain, partitions, providers,
the replica) are in core.observability.state, not here.
"""

from __future__ import annotations

import os
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

# No `_created` series: they double the scrape and nothing here charts them.
disable_created_metrics()
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# --- HTTP --------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "tristate_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "tristate_http_request_duration_seconds",
    "Time to answer an HTTP request (all middleware included), by route template and method.",
    ["route", "method"],
    buckets=(0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge(
    "tristate_http_requests_in_flight", "HTTP requests being answered right now.", multiprocess_mode="livesum"
)

# --- Database ----------------------------------------------------------------------------
DB_QUERIES = Counter(
    "tristate_db_queries", "SQL statements sent during HTTP requests, by database alias.", ["database"]
)
DB_QUERIES_PER_REQUEST = Histogram(
    "tristate_db_queries_per_request",
    "SQL statements one HTTP request sent (all databases), of the requests that sent any.",
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144),
)
DB_TIME_PER_REQUEST = Histogram(
    "tristate_db_time_per_request_seconds",
    "Time one HTTP request spent waiting for SQL statements (all databases), of the requests that sent any.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
DB_CONNECTION_ERRORS = Counter(
    "tristate_db_connection_errors",
    "Database connection failures (OperationalError or InterfaceError other than a statement "
    "timeout) met while serving requests, by database alias.",
    ["database"],
)

# --- Audit chain (what this process did; the chain's state is read at scrape time) -----
AUDIT_ENTRIES = Counter(
    "tristate_audit_entries_written", "Audit entries committed, by entity and action.", ["entity", "action"]
)
AUDIT_SEALED = Counter("tristate_audit_entries_sealed", "Audit entries sealed into the hash chain.")
AUDIT_LAST_SEAL = Gauge(
    "tristate_audit_last_seal_timestamp_seconds",
    "Unix time of the last batch of audit entries sealed (by any process sharing the metrics directory).",
    multiprocess_mode="max",
)

# --- Domain (derived from audit entries and API error codes: core.observability.domain) --
LOGINS = Counter("tristate_logins", "Login attempts, by outcome.", ["outcome"])
LOCKOUTS = Counter("tristate_lockouts", "Accounts locked after repeated login failures.")
TOKEN_REFRESHES = Counter("tristate_token_refreshes", "Refresh tokens rotated (successful refreshes).")
TOKEN_REUSE = Counter("tristate_token_reuse_detections", "Rotated refresh tokens presented again (reuse detected).")
QUOTA_REJECTIONS = Counter(
    "tristate_quota_rejections", "Requests refused by a usage quota, by the limit that refused them.", ["kind"]
)
API_ERRORS = Counter("tristate_api_errors", "API error envelopes sent, by error code.", ["code"])
USAGE_REQUESTS = Counter("tristate_usage_requests", "Provider requests recorded as usage.")
USAGE_TOKENS = Counter("tristate_usage_tokens", "Provider tokens recorded as usage, by direction.", ["direction"])
USAGE_COST = Counter("tristate_usage_cost_usd", "Provider cost recorded as usage, in USD.")
COST_ALERTS = Counter("tristate_cost_alerts", "Cost alerts raised, by alert type.", ["alert_type"])
PROMOTIONS = Counter("tristate_promotions", "Promotion workflow steps, by action.", ["action"])
QUARANTINES = Counter("tristate_quarantines", "Experiments quarantined.")
PROVIDER_HEALTH_RUNS = Counter("tristate_provider_health_checks", "Provider health check runs recorded.")


def note_sealed(count: int) -> None:
    """The sequencer committed a batch of `count` sealed entries."""
    AUDIT_SEALED.inc(count)
    AUDIT_LAST_SEAL.set(time.time())


def process_figures() -> bytes:
    """The Prometheus text of the figures recorded by processes: every worker's, added
    up, in multiprocess mode; this process's otherwise."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
