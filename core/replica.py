"""Read-replica status for /healthz (the router itself arrives with the scale-out work)."""

from django.conf import settings


def replica_health() -> dict | None:
    if "replica" not in settings.DATABASES:
        return None
    from django.db import connections

    try:
        with connections["replica"].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery(), EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))")
            in_recovery, lag = cursor.fetchone()
        return {"status": "ok", "in_recovery": in_recovery, "lag_seconds": float(lag) if lag is not None else 0.0}
    except Exception as exc:
        return {"status": f"error: {exc.__class__.__name__}"}
