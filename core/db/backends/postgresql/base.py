"""PostgreSQL backend that keeps each domain app's tables in the schema named after it.

Django has no notion of schemas. Rather than the quoting trick (`db_table = 'a"."b'`),
which breaks flush, renames and several DDL operations, table names stay plain and
globally unique, every connection's search_path lists all app schemas, and the schema
editor creates each new table inside its app's schema. Everything else (FKs across
schemas, indexes, flush, introspection) then works unchanged.
"""

import functools
import select
from datetime import UTC

import psycopg
import psycopg.adapt
import psycopg.pq
import psycopg.types.datetime
from django.conf import settings
from django.db.backends.postgresql import base, operations, schema
from django.utils.asyncio import async_unsafe


def app_schemas() -> list[str]:
    return list(settings.DOMAIN_APPS)


def search_path() -> str:
    # public first: Django's own tables, and anything not owned by a domain app, land there.
    return ",".join(["public", *app_schemas()])


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def create_model(self, model):
        target = model._meta.app_label
        if target not in app_schemas():
            return super().create_model(model)
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote_name(target)}")
        # SET (not SET LOCAL) so it also works in non-atomic migrations; inside a
        # transaction that fails, PostgreSQL rolls the SET back by itself.
        self.execute(f"SET search_path TO {self.quote_name(target)},{search_path()}")
        try:
            super().create_model(model)
        except Exception:
            if not self.connection.in_atomic_block:
                self.execute(f"SET search_path TO {search_path()}")
            raise
        self.execute(f"SET search_path TO {search_path()}")


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # A statement of bound_cursor() is logged (debug, the tests' query capture) with its
        # values quoted in, as Django logs every statement when all are bound on the
        # server; its own reading of the driver's last query finds nothing there.
        if isinstance(cursor, base.ServerBindingCursor):
            try:
                return self.compose_sql(sql, params)
            except psycopg.DataError:
                return None
        return super().last_executed_query(cursor, sql, params)

    def adapt_datetimefield_value(self, value):
        # PostgreSQL refuses UTC offsets beyond ±15:59 ("time zone displacement out of
        # range") although ISO 8601 and Python allow up to ±23:59. Every aware value is
        # sent as UTC — the same instant — so no client-supplied offset can fail a query.
        if value is not None and getattr(value, "tzinfo", None) is not None:
            return value.astimezone(UTC)
        return value


# Keys of OPTIONS that this backend turns into server settings rather than passing to psycopg.
_SETTING_OPTIONS = {"statement_timeout_ms": "statement_timeout", "lock_timeout_ms": "lock_timeout"}


@functools.lru_cache
def _utc_adapters(template):
    """Django's adapters, with psycopg's own C timestamptz loader instead of Django's
    pure-Python subclass. With USE_TZ and the UTC time zone Django sets the session to
    UTC, so psycopg already returns datetimes in datetime.timezone.utc — what Django's
    loader produces by re-stamping every value, at about a sixth of the cost (some 11 µs
    saved per timestamp fetched: most of a 50-row list page's fetch time)."""
    adapters = psycopg.adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", psycopg.types.datetime.TimestamptzLoader)
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
    ops_class = DatabaseOperations

    @property
    def _fast_utc_timestamps(self) -> bool:
        return bool(settings.USE_TZ) and self.timezone_name == "UTC"

    def is_usable(self):
        """The per-request health check (CONN_HEALTH_CHECKS) without a round trip when
        the answer is plain. An idle connection that the server has dropped (restart,
        pg_terminate_backend, idle timeout) has the server's last message or its end of
        file waiting on the socket; a healthy idle one has nothing to read. So: nothing
        readable means usable, and only otherwise, or outside the idle state, is Django's
        SELECT 1 asked. Saves one round trip on every request that touches the database."""
        raw = self.connection
        if raw is None or raw.closed or raw.broken:
            return False
        if raw.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            try:
                # poll, not select: no limit on the descriptor's number. Any event (data,
                # hang-up, error) sends the question to the server.
                poller = select.poll()
                poller.register(raw.pgconn.socket, select.POLLIN)
                if not poller.poll(0):
                    return True
            except (OSError, ValueError, psycopg.OperationalError):
                pass  # the socket cannot be asked: ask the server
        return super().is_usable()

    @async_unsafe
    def create_cursor(self, name=None):
        if not self._fast_utc_timestamps:
            return super().create_cursor(name)
        # Django's create_cursor, minus its per-cursor check of the timestamptz loader's
        # time zone: the connection's loader (see _utc_adapters) already yields UTC.
        if name:
            if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
                return base.ServerSideCursor(  # type: ignore[call-arg]  # the stubs give it no constructor; it is psycopg's ServerCursor, which takes these
                    self.connection, name=name, scrollable=False, withhold=self.connection.autocommit
                )
            return self.connection.cursor(name, scrollable=False, withhold=self.connection.autocommit)
        return self.connection.cursor()

    def bound_cursor(self):
        """A cursor whose statements go to the server with their values bound apart
        (extended protocol), where every other cursor of Django's quotes the values into
        the text. psycopg prepares each statement the first time a connection runs it
        (prepare_threshold, set in get_connection_params) and dumps the values in C, so a
        statement sent thousands of times is parsed and planned once per connection. For
        fixed statements written in the code (core.db.bound); one statement per execute().
        Wrapped as connection.cursor() wraps: query logging, execute wrappers and errors
        translated into Django's."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = base.ServerBindingCursor(self.connection)  # type: ignore[call-arg]  # psycopg's Cursor(connection); the stubs give it no constructor
        self.validate_thread_sharing()
        if self.queries_logged:
            return self.make_debug_cursor(cursor)  # type: ignore[arg-type]  # the stubs want Django's wrapper; Django passes the driver's cursor
        return self.make_cursor(cursor)  # type: ignore[arg-type]  # the stubs want Django's wrapper; Django passes the driver's cursor

    def get_connection_params(self):
        params = super().get_connection_params()
        if self._fast_utc_timestamps and "context" in params:
            params["context"] = _utc_adapters(params["context"])
        server_settings = [f"-c search_path={search_path()}"]
        for key, name in _SETTING_OPTIONS.items():
            value = params.pop(key, None)
            if value:
                server_settings.append(f"-c {name}={int(value)}")
        behind_pgbouncer = params.pop("search_path_in_options", True) is False
        if behind_pgbouncer:
            # Behind PgBouncer (transaction mode) startup options are refused: the search
            # path and timeouts then come from the role (`ALTER ROLE ... SET`, done by
            # manage.py db_roles).
            server_settings = []
        if "prepare_threshold" not in self.settings_dict["OPTIONS"]:
            # Only bound_cursor()'s statements are ever prepared by psycopg (Django's own
            # cursors quote values client-side and never prepare); they are prepared on
            # first use. Not behind PgBouncer: a prepared statement need not follow the
            # session from one transaction to the next there.
            params["prepare_threshold"] = None if behind_pgbouncer else 0
        existing = params.get("options", "")
        params["options"] = " ".join(filter(None, [existing, *server_settings]))
        if not params["options"]:
            params.pop("options")
        return params
