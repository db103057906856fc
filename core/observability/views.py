"""/metrics (Prometheus text format, guarded by METRICS_TOKEN) and /readyz."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from core.observability import metrics
from core.observability.state import StateCollector


def _token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@csrf_exempt  # read-only; and a CSRF refusal would tell a prober the path exists
def metrics_view(request):
    """Without the token, a wrong one, or with METRICS_TOKEN unset, the answer is the
    site's plain 404, whatever the method: nothing tells a prober that this path exists."""
    if not _token_matches(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    state = CollectorRegistry()
    state.register(StateCollector())
    body = metrics.process_figures() + generate_latest(state)
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def readiness() -> tuple[bool, dict]:
    """(ready, checks): the database answers, migrations are applied, next month's audit
    partition exists. Each failed check says why."""
    from core.views import migrations_pending

    checks: dict[str, str] = {}
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure to reach the database: not ready
        checks["database"] = f"error: {exc.__class__.__name__}"
        checks["migrations"] = checks["audit_partitions"] = "unknown"
        return False, checks
    try:
        pending = migrations_pending(connection)
        checks["migrations"] = "ok" if not pending else f"pending: {len(pending)}"
    except Exception as exc:
        checks["migrations"] = f"error: {exc.__class__.__name__}"
    try:
        from audits.partitions import add_months
        from audits.selectors import partition_summary

        summary = partition_summary()
        next_month = add_months(summary.current_month, 1)
        if next_month in {p.month for p in summary.partitions}:
            checks["audit_partitions"] = "ok"
        else:
            checks["audit_partitions"] = f"missing: {next_month:%Y-%m} (run manage.py audit_partitions)"
    except Exception as exc:
        checks["audit_partitions"] = f"error: {exc.__class__.__name__}"
    return all(value == "ok" for value in checks.values()), checks


@require_GET
def readyz(request):
    ready, checks = readiness()
    body = {"status": "ready" if ready else "not_ready", **checks}
    from core.replica import replica_health

    replica = replica_health()
    if replica is not None:
        body["replica"] = replica
    response = JsonResponse(body, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response
