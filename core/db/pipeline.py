"""Statements sent together: psycopg's pipeline mode, through its public API.

Outside pipeline mode every statement waits for its answer before the next is sent.
Inside `pipelined()` the statements of the block are queued and sent together: a block
costs one round trip, taken when a result is read (fetchone, fetchall) or when the block
ends. (psycopg still sends a transaction's BEGIN apart and waits for it, in pipeline
mode too.) An audited create uses two such blocks: its locks and reads (the answers it
checks), then its row and its audit entry.

Only for statements whose result the code reads with fetch*() or does not need: inside
the block `cursor.rowcount` stays -1 until the block ends, so an ORM call that reads it
(QuerySet.update(), delete(), a save() that may UPDATE) must stay outside. An error in
one statement is raised when the block's results are read (at the latest when it ends),
as Django's exception (IntegrityError, ...); the statements after it in the block do not
run, and the transaction is aborted as after any failed statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.pq import ExecStatus

from core.db import prepared


@contextmanager
def pipelined(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Queue the block's statements on the `using` connection and send them together."""
    db = connections[using]
    db.ensure_connection()
    with db.wrap_database_errors, db.connection.pipeline():
        yield


@dataclass(frozen=True)
class StatementResult:
    rowcount: int
    rows: list[tuple]


def run_together(statements: list[tuple[str, list]], using: str = DEFAULT_DB_ALIAS) -> list[StatementResult]:
    """Run fixed statements (core.db.prepared) in order, in one round trip, and return
    each one's row count and rows. PostgreSQL runs them one after another, each with its
    own snapshot (READ COMMITTED), exactly as if they were sent apart; the first that
    fails raises and the rest do not run. Each has its own cursor: a cursor keeps only
    the result of its last statement."""
    db = connections[using]
    cursors = [db.cursor() for _ in statements]
    try:
        prepared.prepare(cursors[0], [sql for sql, _ in statements])
        with pipelined(using):
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                prepared.execute(cursor, sql, params)
        results = []
        for cursor in cursors:
            # The result's status says whether it has rows; cursor.description would
            # build a Column object per column only to be tested for emptiness.
            has_rows = cursor.pgresult is not None and cursor.pgresult.status == ExecStatus.TUPLES_OK
            results.append(StatementResult(cursor.rowcount, cursor.fetchall() if has_rows else []))
        return results
    finally:
        for cursor in cursors:
            cursor.close()
