"""Queries sent ahead: a round trip overlapped with the Python work done before its
answer is needed.

Every authenticated API request starts with its session lookup (accounts.tokens): one
indexed read of a few microseconds in PostgreSQL, but one round trip, and on a quiet
server a round trip is mostly the server process waking up: 0.3-0.8 ms inside a request
on the 2-core VM, against 0.07 ms back to back. Between a request's arrival and DRF's
authentication, Django runs its middleware, resolves the URL and builds DRF's request:
some 0.6 ms of Python in which the connection sits idle. `send` puts the query on the
wire at the start of that stretch and returns; `SentAhead.fetchone()` reads the answer
at the end, by then usually waiting in the socket.

A connection carries one query at a time. While one is out, the connection
(core.db.backends.postgresql.DatabaseWrapper) reads its result before anything else
uses it: a new cursor, commit, rollback, a change of autocommit, the health check,
close. The result, or the error, stays with the handle; nothing else sees it. The query
is logged (connection.queries, and so the tests' query counts) when its result is read,
through Django's own CursorDebugWrapper.debug_sql, like any other.

Only for fixed statements written in the code (core.db.prepared prepares them), on a
connection whose cursor can split execute() in two (BeginWithFirstQueryCursor:
client-side binding); elsewhere `send` returns None and the caller runs the query the
usual way.
"""

from __future__ import annotations

from contextlib import nullcontext

from core.db import prepared


class SentAhead:
    """A query on the wire whose result has not been read yet."""

    def __init__(self, db, cursor, sql: str, params: list):
        self.db = db
        self._cursor = cursor  # Django's cursor wrapper around a BeginWithFirstQueryCursor
        self._sql, self._params = sql, params
        self._received = False
        self._error: BaseException | None = None

    def receive(self) -> None:
        """Read the result off the connection, once; an error is kept for fetchone()."""
        if self._received:
            return
        self._received = True
        if self.db.sent_ahead is self:
            self.db.sent_ahead = None
        # Logged as Django logs any query when queries are logged (CursorDebugWrapper),
        # with the time spent waiting for the answer.
        debug_sql = getattr(self._cursor, "debug_sql", None)
        logged = debug_sql(self._sql, self._params, use_last_executed_query=True) if debug_sql else nullcontext()
        with logged:
            try:
                self._cursor.cursor.receive_ahead()
            except Exception as exc:  # re-raised, translated, by fetchone()
                self._error = exc
                # As wrap_database_errors would: the connection is checked before its
                # next use, even if nobody asks for this answer.
                self.db.errors_occurred = True

    def fetchone(self):
        """The first row of the result (None without rows), as cursor.fetchone()."""
        self.receive()
        if self._error is not None:
            error, self._error = self._error, None
            with self.db.wrap_database_errors:
                raise error
        with self.db.wrap_database_errors:
            return self._cursor.cursor.fetchone()

    def close(self) -> None:
        """Read the result if nobody has (the connection must be free for the next
        request) and close the cursor. Safe to call more than once."""
        self.receive()
        self._cursor.close()


class FailedAhead:
    """What `send` returns when sending failed: fetchone() raises that error, translated,
    where the caller expects its query's errors."""

    def __init__(self, db, error: BaseException):
        self.db, self._error = db, error

    def fetchone(self):
        with self.db.wrap_database_errors:
            raise self._error

    def close(self) -> None:
        pass


def send(db, sql: str, params: list) -> SentAhead | FailedAhead | None:
    """Send the fixed statement `sql` on the connection `db` (prepared there, as
    core.db.prepared.execute does) and return without waiting. None when this connection
    cannot send ahead, or already has a query out: run the query the usual way then."""
    if getattr(db, "sent_ahead", False) is not None:
        return None  # not our backend, or a query is already out
    try:
        cursor = db.cursor()  # connects, runs the per-request health check
    except Exception as exc:  # handed to the caller: see FailedAhead
        return FailedAhead(db, exc)
    if not hasattr(cursor.cursor, "send_ahead"):
        cursor.close()
        return None
    try:
        statement, args = prepared.statement(cursor, sql, params)
        cursor.cursor.send_ahead(statement, args)
    except Exception as exc:  # handed to the caller: see FailedAhead
        cursor.close()
        return FailedAhead(db, exc)
    handle = SentAhead(db, cursor, statement, args)
    db.sent_ahead = handle
    return handle
