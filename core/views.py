"""Service endpoints outside the versioned API."""

import time

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse

# Unapplied migrations do not appear while the process runs, except by a deploy; a
# short cache keeps /healthz cheap under load-balancer polling.
_MIGRATIONS_OK_UNTIL = 0.0
_CACHE_SECONDS = 30.0


def _migrations_ok(connection) -> bool:
    global _MIGRATIONS_OK_UNTIL
    now = time.monotonic()
    if now < _MIGRATIONS_OK_UNTIL:
        return True
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not pending:
        _MIGRATIONS_OK_UNTIL = now + _CACHE_SECONDS
    return not pending


def healthz(request):
    body = {"status": "ok", "database": "ok", "migrations": "ok"}
    status = 200
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_ok(connection):
            body["migrations"] = "pending"
            body["status"] = "degraded"
            status = 503
    except Exception as exc:  # any failure to reach the database is a 503, never a 500
        body.update(status="unavailable", database=f"error: {exc.__class__.__name__}", migrations="unknown")
        status = 503
    from core.replica import replica_health

    replica = replica_health()
    if replica is not None:
        body["replica"] = replica
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response
