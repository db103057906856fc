"""Per-request state deciding whether reads may use the replica (see core.db.routers).

The replica is used only inside `replica_reads()` (entered by ReplicaMiddleware for safe
requests whose view allows it), so nothing reads from it by accident.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time

from django.conf import settings
from django.db import connections

logger = logging.getLogger("tristate.db")

_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads_allowed", default=False)
_wrote: contextvars.ContextVar[bool] = contextvars.ContextVar("request_wrote", default=False)
# The Bearer login session that authenticated this request (accounts.Session), if any.
_login: contextvars.ContextVar = contextvars.ContextVar("request_login_session", default=None)

_health_lock = threading.Lock()
_health: dict[str, float | bool] = {"checked": 0.0, "ok": False}
_HEALTH_TTL = 2.0


def replica_configured() -> bool:
    return "replica" in settings.DATABASES


def _replica_healthy() -> bool:
    now = time.monotonic()
    if now - _health["checked"] < _HEALTH_TTL:
        return bool(_health["ok"])
    with _health_lock:
        if now - _health["checked"] < _HEALTH_TTL:
            return bool(_health["ok"])
        ok = False
        try:
            with connections["replica"].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_is_in_recovery(), "
                    "COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
                )
                in_recovery, lag = cursor.fetchone()
            if not in_recovery:
                # The node behind the replica URL was promoted (a failover): drop this
                # connection, so the next check reconnects and libpq picks a standby again.
                connections["replica"].close()
            # An idle primary makes replay timestamps look old: lag only counts when WAL
            # is waiting to be replayed.
            ok = bool(in_recovery) and (float(lag) <= settings.REPLICA_MAX_LAG_SECONDS or _caught_up(connections))
        except Exception as exc:
            logger.warning("replica unavailable, reading from the primary: %s", exc.__class__.__name__)
            with contextlib.suppress(Exception):
                connections["replica"].close()
        if ok != _health["ok"]:
            logger.warning("replica %s", "back in use" if ok else "out of use; reads go to the primary")
        _health.update(checked=now, ok=ok)
        return ok


def _caught_up(connections) -> bool:
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()")
        return bool(cursor.fetchone()[0])


def reads_may_use_replica() -> bool:
    return _allowed.get() and not _wrote.get() and replica_configured() and _replica_healthy()


def mark_write() -> None:
    _wrote.set(True)


def note_last_write(when) -> None:
    """The requesting login last wrote at `when`: within the sticky window, stay on the primary."""
    if when is not None and replica_configured():
        from django.utils import timezone

        if (timezone.now() - when).total_seconds() < settings.REPLICA_STICKY_SECONDS:
            mark_write()


def note_login(session) -> None:
    """The login session (accounts.Session) that authenticated this request: a write that
    succeeds stamps its last_write_at, so the login reads the primary for a while."""
    _login.set(session)


def current_login():
    """The login session noted for this request, or None."""
    return _login.get()


@contextlib.contextmanager
def replica_reads():
    """Reads inside may use the replica (unless this request or login wrote)."""
    token = _allowed.set(True)
    try:
        yield
    finally:
        _allowed.reset(token)


@contextlib.contextmanager
def request_scope():
    """Per request: nothing written yet, no login noted."""
    wrote, login = _wrote.set(False), _login.set(None)
    try:
        yield
    finally:
        _wrote.reset(wrote)
        _login.reset(login)


def forget_health() -> None:
    _health.update(checked=0.0, ok=False)
