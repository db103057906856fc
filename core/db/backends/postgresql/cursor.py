"""A client-side cursor that sends a transaction's BEGIN together with its first query.

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
and server-side cursors keep psycopg's own BEGIN. The cursor uses psycopg's internal
hooks, which is why psycopg is pinned (a test checks the message count and the
transaction semantics against the installed version).
"""

from __future__ import annotations

from django.db.backends.postgresql import base
from psycopg import adapt, errors
from psycopg.generators import execute
from psycopg.pq import ExecStatus, TransactionStatus


class BeginWithFirstQueryCursor(base.Cursor):
    def _carries_begin(self, prepare, binary) -> bool:
        conn = self._conn
        return (
            not conn.autocommit
            and not prepare
            and not binary
            and conn._pipeline is None
            and conn.pgconn.transaction_status == TransactionStatus.IDLE
        )

    def _execute_gen(self, query, params=None, *, prepare=None, binary=None):
        if not self._carries_begin(prepare, binary):
            return (yield from super()._execute_gen(query, params, prepare=prepare, binary=binary))
        # BaseCursor._start_query, without the connection's separate BEGIN.
        if self.closed:
            raise errors.InterfaceError("the cursor is closed")
        self._reset()
        if not self._last_query or (self._last_query is not query):
            self._last_query = None
            self._tx = adapt.Transformer(self)
        pgq = self._convert_query(query, params)
        if not pgq.query.strip():
            # Nothing to carry the BEGIN: let psycopg start the transaction its own way.
            yield from self._conn._start_query()
            yield from self._maybe_prepare_gen(pgq, prepare=prepare, binary=binary)
            self._last_query = query
            return None
        self._query = pgq
        self._pgconn.send_query(self._conn._get_tx_start_command() + b";\n" + pgq.query)
        results = yield from execute(self._pgconn)
        begun, *rest = results
        if begun.status != ExecStatus.COMMAND_OK:
            self._raise_for_result(begun)
        # A query of comments only has no result of its own: BEGIN's stands in for the
        # empty one psycopg would otherwise have kept (no rows either way).
        rest = rest or [begun]
        self._check_results(rest)
        self._set_results(rest)
        self._last_query = query
        yield from self._conn._prepared.maintain_gen(self._conn)
        return None
