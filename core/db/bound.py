"""Fixed statements with their values bound on the server, prepared once per connection.

Django's cursors quote every value into the statement's text in Python and send it to be
parsed and planned again. For the statements of the hot paths (an audited write's one
statement: audits.services.audited; the session lookup; the compiled details and list
pages of core.lookups; project_for_write's lock; audit_record's INSERT; the sequencer's
batch) the backend's bound_cursor() sends the values apart instead (extended protocol):
psycopg dumps them in C and prepares the statement the first time a connection runs it
(prepare_threshold 0; not behind PgBouncer, where it sends the statement unprepared).

Only for statements written in the code, never built from input: each distinct text is
one prepared statement on each connection (psycopg keeps at most 100 and deallocates the
least used). The statement's result columns must be named (no `*` of a table): a
prepared statement's result type cannot change under it when a migration adds a column.
"""

from __future__ import annotations

from typing import cast

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorWrapper

from core.db.backends.postgresql.base import DatabaseWrapper


def cursor(using: str = DEFAULT_DB_ALIAS) -> CursorWrapper:
    """A bound cursor on the connection `using` (the backend's bound_cursor())."""
    return cast(DatabaseWrapper, connections[using]).bound_cursor()


def fetch_row(sql: str, params: list, *, using: str = DEFAULT_DB_ALIAS) -> tuple | None:
    """Run `sql` (psycopg placeholders) with `params` and return its first row, or None."""
    with cursor(using) as bound:
        bound.execute(sql, params)
        return bound.fetchone()


def fetch_one(sql: str, params: list, *, using: str = DEFAULT_DB_ALIAS) -> tuple:
    """fetch_row for a statement that always returns a row (an aggregate, an EXISTS)."""
    row = fetch_row(sql, params, using=using)
    if row is None:
        raise RuntimeError("the statement returned no row")
    return row
