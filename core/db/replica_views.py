"""Opting API views into replica reads, and read-your-writes across requests."""

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.utils import timezone
from rest_framework.permissions import SAFE_METHODS

from core.db import replica_state

logger = logging.getLogger("tristate.db")

# A login's last_write_at is stamped at most this often: one UPDATE a second at most.
_STAMP_GRANULARITY = 1.0


if TYPE_CHECKING:  # the mixin's base as the type checker sees it; at run time a plain mixin
    from rest_framework.views import APIView as _ViewBase
else:
    _ViewBase = object


class ReplicaReadMixin(_ViewBase):
    """For views whose GETs only read through selectors (lists, details, statistics,
    the audit log): their queries may be served by the replica (core.db.routers).
    Authentication still reads the primary, so a revoked session stops at once."""

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS and replica_state.replica_configured():
            with replica_state.replica_reads():
                return super().dispatch(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)


class ReplicaMiddleware:
    """Read-your-writes with a replica. A request that writes reads the primary for the
    rest of the request (core.db.routers marks it); after a successful write request the
    login's last write is stamped (the Bearer session row, or the browser session), so
    its reads in the next REPLICA_STICKY_SECONDS — on any worker or server — stay on
    the primary too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with replica_state.request_scope():
            if not replica_state.replica_configured():
                return self.get_response(request)
            stamp = request.session.get("last_write_at") if hasattr(request, "session") else None
            if stamp:
                replica_state.note_last_write(datetime.fromtimestamp(stamp, UTC))
            response = self.get_response(request)
            if request.method not in SAFE_METHODS and response.status_code < 400:
                self._stamp(request)
            return response

    @staticmethod
    def _stamp(request) -> None:
        now = timezone.now()
        session = replica_state.current_login()
        try:
            if session is not None:
                last = session.last_write_at
                if last is None or (now - last).total_seconds() >= _STAMP_GRANULARITY:
                    # Through the session's own model: core names no accounts module.
                    type(session).objects.filter(pk=session.pk).update(last_write_at=now)
            elif getattr(request, "user", None) is not None and request.user.is_authenticated:
                request.session["last_write_at"] = now.timestamp()
        except Exception:  # stickiness is best effort; never fail a write that succeeded
            logger.exception("could not record the last write time for read-your-writes")
