"""A client-side cursor that sends a transaction's BEGIN together with its first query,
and that can send a query ahead of reading its result.

psycopg opens a transaction by sending BEGIN on its own and waiting for the answer before
the first query goes out: one round trip per transaction that carries nothing. Every
write in this system is a transaction (its change and its audit entry), so that round
trip is paid by every write. With client-side binding, psycopg sends a query through the
simple query protocol, which runs several statements from one message; so when a
transaction is due to start, this cursor sends "BEGIN; <query>" as one message, drops
BEGIN's result and keeps the query's. PostgreSQL keeps a transaction opened by an
explicit BEGIN inside a multi-statement message open after the message, exactly as if
BEGIN had come alone (protocol docs, "Multiple Statements in a Simple Query").

Only `execute()` on a connection outside autocommit and outside a transaction takes this
path, and only without pipeline mode or prepared statements; COPY, executemany, streams
and server-side cursors keep psycopg's own BEGIN.

`send_ahead()` and `receive_ahead()` are `execute()` cut in two: the first puts the
query on the wire (with BEGIN when one is due, as above) and returns, the second waits
for the result and keeps it for fetchone(). Between the two the connection may carry
nothing else; core.db.ahead and the backend's DatabaseWrapper see to that.

The cursor uses psycopg's internal hooks, which is why psycopg is pinned (tests check the
message count, the transaction semantics and the split execute against the installed
version).
"""

from __future__ import annotations

from django.db.backends.postgresql import base
from psycopg import adapt, errors
from psycopg.generators import execute, fetch_many, send
from psycopg.pq import ExecStatus, TransactionStatus


class BeginWithFirstQueryCursor(base.Cursor):
    # While a query sent by send_ahead() awaits its result: whether BEGIN went with it.
    _ahead_carries_begin: bool | None = None

    def _begin_is_due(self) -> bool:
        conn = self._conn
        return (
            not conn.autocommit and conn._pipeline is None and conn.pgconn.transaction_status == TransactionStatus.IDLE
        )

    def _carries_begin(self, prepare, binary) -> bool:
        return not prepare and not binary and self._begin_is_due()

    def _prepare_query(self, query, params):
        """BaseCursor._start_query without the connection's separate BEGIN: the query,
        converted, or None when it is empty (nothing could carry a BEGIN)."""
        if self.closed:
            raise errors.InterfaceError("the cursor is closed")
        self._reset()
        if not self._last_query or (self._last_query is not query):
            self._last_query = None
            self._tx = adapt.Transformer(self)
        pgq = self._convert_query(query, params)
        return pgq if pgq.query.strip() else None

    def _send_simple(self, pgq, *, with_begin: bool) -> None:
        self._query = pgq
        begin = self._conn._get_tx_start_command() + b";\n" if with_begin else b""
        self._pgconn.send_query(begin + pgq.query)

    def _keep_results(self, query, results, *, with_begin: bool) -> None:
        if with_begin:
            begun, *results = results
            if begun.status != ExecStatus.COMMAND_OK:
                self._raise_for_result(begun)
            # A query of comments only has no result of its own: BEGIN's stands in for
            # the empty one psycopg would otherwise have kept (no rows either way).
            results = results or [begun]
        self._check_results(results)
        self._set_results(results)
        self._last_query = query

    def _execute_gen(self, query, params=None, *, prepare=None, binary=None):
        if not self._carries_begin(prepare, binary):
            return (yield from super()._execute_gen(query, params, prepare=prepare, binary=binary))
        pgq = self._prepare_query(query, params)
        if pgq is None:
            # Nothing to carry the BEGIN: let psycopg start the transaction its own way.
            yield from self._conn._start_query()
            yield from self._maybe_prepare_gen(self._convert_query(query, params), prepare=prepare, binary=binary)
            self._last_query = query
            return None
        self._send_simple(pgq, with_begin=True)
        results = yield from execute(self._pgconn)
        self._keep_results(query, results, with_begin=True)
        yield from self._conn._prepared.maintain_gen(self._conn)
        return None

    # --- execute() in two halves ------------------------------------------------------------

    def send_ahead(self, query, params=None) -> None:
        """Send `query` and return without waiting for its result (receive_ahead() reads
        it). Simple query protocol, client-side binding, outside pipeline mode."""
        if self._conn._pipeline is not None:
            raise errors.ProgrammingError("send_ahead() is not available in pipeline mode")
        with self._conn.lock:
            pgq = self._prepare_query(query, params)
            if pgq is None:
                raise errors.ProgrammingError("send_ahead() needs a statement")
            with_begin = self._begin_is_due()
            self._send_simple(pgq, with_begin=with_begin)
            self._conn.wait(send(self._pgconn))
            self._ahead_carries_begin = with_begin
            self._last_query = query

    def receive_ahead(self) -> None:
        """Wait for the result of the query sent by send_ahead() and keep it, as execute()
        does; raises what execute() would have raised."""
        if self._ahead_carries_begin is None:
            raise errors.ProgrammingError("no query was sent ahead on this cursor")
        with_begin, self._ahead_carries_begin = self._ahead_carries_begin, None
        with self._conn.lock:
            results = self._conn.wait(fetch_many(self._pgconn))
            self._keep_results(self._last_query, results, with_begin=with_begin)
