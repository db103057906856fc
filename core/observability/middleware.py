"""Per request: the request id, the HTTP and database figures, one log line.

ObservabilityMiddleware is the first of MIDDLEWARE, so its figures cover every other
middleware, and every response (redirects and refusals of later middleware included)
carries X-Request-ID. It takes the figures when the response is ready and writes them
(metric values, the log line) from request_finished, once the body has been sent: that
work is then no part of the time the client waits for its answer."""

from __future__ import annotations

import functools
import logging
import re
import time
from contextvars import ContextVar

from django.conf import settings
from django.core.signals import request_finished
from django.db import InterfaceError, OperationalError, connections
from django.utils.functional import SimpleLazyObject

from core.observability import context, metrics

logger = logging.getLogger("tristate.request")

UNMATCHED = "<unmatched>"
_stats: ContextVar[QueryStats | None] = ContextVar("tristate_query_stats", default=None)
_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


@functools.lru_cache(maxsize=2048)
def route_template(route: str) -> str:
    """A resolver's route as a template: `api/v1/projects/(?P<pk>[^/.]+)/?$` (a router's
    regex, the slash optional) becomes `/api/v1/projects/{pk}`, `healthz` `/healthz`."""
    template = _GROUP.sub(lambda m: "{" + m.group(1) + "}", route)
    return "/" + template.replace("^", "").replace("$", "").replace("/?", "").lstrip("/")


# Labels stay bounded: a method outside these is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@functools.lru_cache(maxsize=4096)
def _http_series(route: str, method: str, status: int):
    """The request counter and latency histogram of one label set, looked up once."""
    return metrics.HTTP_REQUESTS.labels(route, method, str(status)), metrics.HTTP_DURATION.labels(route, method)


@functools.lru_cache(maxsize=8)
def _db_series(alias: str):
    return metrics.DB_QUERIES.labels(alias)


class QueryStats:
    """An execute wrapper (django.db.connection.execute_wrapper, a public Django API) that
    counts a request's statements and the time spent in them."""

    __slots__ = ("count", "failed", "on_replica", "seconds")

    def __init__(self):
        self.count = 0
        self.on_replica = 0
        self.seconds = 0.0
        self.failed = False

    def __call__(self, execute, sql, params, many, context_):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context_)
        except (OperationalError, InterfaceError) as exc:
            # Seen here, so the error handler's 503 is not counted a second time.
            self.failed = True
            if not _is_timeout(exc):
                metrics.DB_CONNECTION_ERRORS.labels(context_["connection"].alias).inc()
            raise
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1
            if context_["connection"].alias != "default":
                self.on_replica += 1


def note_database_unavailable() -> None:
    """The error handler answered 503 service_unavailable. When no statement failed, the
    connection itself did (refused before any statement was sent): counted here."""
    stats = _stats.get()
    if stats is None or not stats.failed:
        metrics.DB_CONNECTION_ERRORS.labels("default").inc()
        if stats is not None:
            stats.failed = True


def _is_timeout(exc) -> bool:
    from psycopg.errors import LockNotAvailable, QueryCanceled

    return isinstance(exc.__cause__, QueryCanceled | LockNotAvailable)


def _user_id(request) -> str | None:
    """The authenticated user's id, when authentication already ran. A user not yet
    resolved (Django's lazy request.user on a page that never looked) is left alone:
    resolving it would cost a query just for the log line."""
    user = request.__dict__.get("user")
    if user is None or isinstance(user, SimpleLazyObject):
        return None
    return str(user.pk) if getattr(user, "is_authenticated", False) else None


class Answered:
    """What a request's bookkeeping needs, taken by the middleware when the response is
    ready: written down (metric values, the log line) only once its body has been sent."""

    __slots__ = (
        "db_queries",
        "db_seconds",
        "elapsed",
        "method",
        "on_replica",
        "request_id",
        "route",
        "status",
        "user_id",
    )

    def __init__(self, *, request_id, method, route, status, elapsed, stats: QueryStats, user_id):
        self.request_id = request_id
        self.method = method
        self.route = route
        self.status = status
        self.elapsed = elapsed
        self.db_queries = stats.count
        self.db_seconds = stats.seconds
        self.on_replica = stats.on_replica
        self.user_id = user_id

    def record(self) -> None:
        method = self.method if self.method in _METHODS else "other"
        counted, timed = _http_series(self.route, method, self.status)
        counted.inc()
        timed.observe(self.elapsed)
        # The database histograms describe the requests that sent SQL: those that sent
        # none (/healthz, probes) would only add zeros, at four file writes each.
        if self.db_queries:
            metrics.DB_QUERIES_PER_REQUEST.observe(self.db_queries)
            metrics.DB_TIME_PER_REQUEST.observe(self.db_seconds)
            _db_series("default").inc(self.db_queries - self.on_replica)
            if self.on_replica:
                _db_series("replica").inc(self.on_replica)
        if logger.isEnabledFor(logging.INFO):
            # makeRecord and handle (public Logger methods) rather than logger.info:
            # the same record, without the stack walk that finds the caller. The request
            # id is carried here: the request's contextvar is reset by now.
            record = logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                "%s %s %s",
                (self.method, self.route, self.status),
                None,
                extra={
                    "request_id": self.request_id,
                    "event": "request",
                    "user_id": self.user_id,
                    "method": self.method,
                    "route": self.route,
                    "status": self.status,
                    "duration_ms": round(self.elapsed * 1000, 3),
                    "db_time_ms": round(self.db_seconds * 1000, 3),
                    "db_queries": self.db_queries,
                },
            )
            logger.handle(record)


# The answered request whose bookkeeping waits for its response to be closed.
_answered: ContextVar[Answered | None] = ContextVar("tristate_answered", default=None)


def record_answered(**_signal) -> None:
    """Receiver of django.core.signals.request_finished, which the response's close()
    sends: a WSGI server (gunicorn's sync worker) calls it after writing the body, so the
    client already has its answer while the metric values and the log line are written.
    The request stops being in flight here, once its body is out.
    Never raises: close() would pass the exception to the server."""
    answered = _answered.get()
    if answered is None:
        return
    _answered.set(None)
    try:
        metrics.HTTP_IN_FLIGHT.dec()
        answered.record()
    except Exception:
        logging.getLogger("tristate.observability").exception("recording request %s failed", answered.request_id)


class ObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.has_replica = "replica" in settings.DATABASES
        request_finished.connect(record_answered, dispatch_uid="tristate.observability.record_answered")

    def _respond(self, request, stats: QueryStats):
        """get_response with `stats` watching the statements of every database alias."""
        if self.has_replica:
            with connections["default"].execute_wrapper(stats), connections["replica"].execute_wrapper(stats):
                return self.get_response(request)
        with connections["default"].execute_wrapper(stats):
            return self.get_response(request)

    def __call__(self, request):
        # A response never closed (a caller of the handler that skips close()) still
        # gets its request counted and logged, one request late.
        record_answered()
        request_id = context.accepted_or_new(request.META.get(context.META_KEY))
        request.request_id = request_id
        token = context.bind(request_id)
        stats = QueryStats()
        stats_token = _stats.set(stats)
        start = time.perf_counter()
        metrics.HTTP_IN_FLIGHT.inc()
        status = 500
        try:
            response = self._respond(request, stats)
            status = response.status_code
            response[context.HEADER] = request_id
            return response
        finally:
            # Still in flight until its body is sent: record_answered counts it out.
            elapsed = time.perf_counter() - start
            match = getattr(request, "resolver_match", None)
            _answered.set(
                Answered(
                    request_id=request_id,
                    method=request.method,
                    route=route_template(match.route) if match is not None else UNMATCHED,
                    status=status,
                    elapsed=elapsed,
                    stats=stats,
                    user_id=_user_id(request),
                )
            )
            _stats.reset(stats_token)
            context.unbind(token)
