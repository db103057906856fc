"""Domain counters, derived from what the services already write instead of hooks in
each service: audit entries (audits.services calls `audit_entry_committed` after the
entry's transaction commits) and API error codes (the error handler calls `api_error`).

The mapping is by entity and action, as recorded by the services (grep `audit_record(`):
security events (entity "security", action = accounts.models.SecurityAction), session
rotation, usage, cost alerts, promotions, quarantines, provider health runs."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation

from core.observability import metrics

logger = logging.getLogger("tristate.observability")

_LOGIN_OUTCOMES = {
    "login_success": "success",
    "login_failure": "failure",
    "login_locked": "locked",
    "totp_failure": "otp_failure",
}


def _number(value) -> float:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return 0.0


def _usage(payload: dict) -> None:
    metrics.USAGE_REQUESTS.inc(max(0, int(payload.get("requests") or 0)))
    metrics.USAGE_TOKENS.labels("input").inc(max(0, int(payload.get("tokens_input") or 0)))
    metrics.USAGE_TOKENS.labels("output").inc(max(0, int(payload.get("tokens_output") or 0)))
    metrics.USAGE_COST.inc(max(0.0, _number(payload.get("cost"))))


def _count(entity: str, action: str, payload: dict) -> None:
    metrics.AUDIT_ENTRIES.labels(entity, action).inc()
    if entity == "security":
        if action in _LOGIN_OUTCOMES:
            metrics.LOGINS.labels(_LOGIN_OUTCOMES[action]).inc()
        elif action == "lockout":
            metrics.LOCKOUTS.inc()
        elif action == "token_reuse":
            metrics.TOKEN_REUSE.inc()
    elif entity == "session" and action == "rotate":
        metrics.TOKEN_REFRESHES.inc()
    elif entity == "usage" and action == "record":
        _usage(payload)
    elif entity == "cost_alert" and action == "trigger":
        metrics.COST_ALERTS.labels(str(payload.get("alert_type") or "unknown")).inc()
    elif entity == "promotion":
        metrics.PROMOTIONS.labels(action).inc()
    elif entity == "experiment" and action == "quarantine":
        metrics.QUARANTINES.inc()
    elif entity == "provider_health" and action == "check":
        metrics.PROVIDER_HEALTH_RUNS.inc()


def audit_entry_committed(entity: str, action: str, payload: dict) -> None:
    """An audit entry's transaction committed. Never raises: a metrics fault must not
    reach the code that committed."""
    try:
        _count(entity, action, payload)
    except Exception:
        logger.exception("counting audit entry %s.%s failed", entity, action)


def api_error(code: str, details) -> None:
    """The error handler sent an envelope with this code."""
    try:
        metrics.API_ERRORS.labels(code).inc()
        if code == "quota_exceeded":
            kinds = (details or {}).get("limits") or ["unknown"]
            for kind in kinds:
                metrics.QUOTA_REJECTIONS.labels(str(kind)).inc()
        elif code == "service_unavailable":
            from core.observability.middleware import note_database_unavailable

            note_database_unavailable()
    except Exception:
        logger.exception("counting API error %s failed", code)
