"""Statements sent together: psycopg's pipeline mode, through its public API.

Outside pipeline mode every statement waits for its answer before the next is sent.
Inside `pipelined()` the statements of the block are queued and sent together: a block
costs one round trip, taken when a result is read (fetchone, fetchall) or when the block
ends. (psycopg still sends a transaction's BEGIN apart and waits for it, in pipeline
mode too.) An audited create sends its row and its audit entry in one such block.
Statements whose answers are read at once go better in one message
(core.db.prepared.run_together): the same round trip for half the client's CPU.

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

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def pipelined(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Queue the block's statements on the `using` connection and send them together."""
    db = connections[using]
    db.ensure_connection()
    with db.wrap_database_errors, db.connection.pipeline():
        yield
