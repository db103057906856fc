"""Service endpoints outside the versioned API: /healthz here; /readyz and /metrics in
core.observability.views."""

import time

from django.http import JsonResponse

# Unapplied migrations do not appear while the process runs, except by a deploy; a
# short cache keeps /readyz cheap under load-balancer polling.
_MIGRATIONS_OK_UNTIL = 0.0
_CACHE_SECONDS = 30.0


def migrations_pending(connection) -> list:
    """The migrations not applied yet on `connection`'s database (cached while none)."""
    global _MIGRATIONS_OK_UNTIL
    now = time.monotonic()
    if now < _MIGRATIONS_OK_UNTIL:
        return []
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not pending:
        _MIGRATIONS_OK_UNTIL = now + _CACHE_SECONDS
    return pending


def healthz(request):
    """Liveness: the process answers. Nothing is read from the database, so an outage of
    the database never gets healthy workers restarted; /readyz says whether to send
    traffic."""
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response
