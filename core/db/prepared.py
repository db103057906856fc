"""Hot fixed statements, planned once per database connection.

Django's client-side binding sends every query as text, so PostgreSQL plans it on every
call. For the statements on the API's hot paths (a detail by primary key, the lock
before a write, the conditional UPDATE of a transition) planning costs more than
executing: the experiment detail plans in 0.22 ms and runs in 0.05 ms. `execute` sends
such a statement once as `PREPARE name AS ...` on each connection and then as
`EXECUTE name(...)` through Django's cursor, so query logging, error translation,
replica routing and health checks stay as they are. PostgreSQL keeps the generic plan of
a primary-key lookup after a few executions; nothing else changes for the caller.

Only for statements written in the code, never built from input: the statement's text
names it (a hash), and a connection keeps at most MAX_PER_CONNECTION of them. A
statement that returns rows must name its columns (no `*`): a prepared `SELECT *`
fails with "cached plan must not change result type" once a migration adds a column.

Behind a transaction-pooling PgBouncer (OPTIONS search_path_in_options=False, see
core.db.backends.postgresql) a prepared statement may not follow the session, so the
plain statement is sent instead. PREPARE is not transactional: a later rollback of the
transaction it was sent in does not undo it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import weakref
from dataclasses import dataclass

from psycopg.pq import ExecStatus, PipelineStatus

MAX_PER_CONNECTION = 64

# psycopg connection -> names of the statements prepared on it
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def may_prepare(connection) -> bool:
    return connection.settings_dict.get("OPTIONS", {}).get("search_path_in_options", True) is not False


def statement_name(sql: str) -> str:
    return "tristate_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()


def _numbered(sql: str) -> str:
    """`sql` with its %s placeholders as $1, $2, ... (and %% as %), for PREPARE."""
    counter = itertools.count(1)
    return re.sub(r"%([%s])", lambda m: "%" if m.group(1) == "%" else f"${next(counter)}", sql)


def _pipelined(raw) -> bool:
    return raw.pgconn.pipeline_status != PipelineStatus.OFF


def prepare(cursor, sqls) -> None:
    """PREPARE those of `sqls` that are new on the cursor's connection, now, one by one
    (each name is remembered once its PREPARE succeeded). Never inside a pipeline: there
    a queued PREPARE would not run if a statement before it failed."""
    connection = cursor.db
    if not may_prepare(connection):
        return
    raw = connection.connection
    if _pipelined(raw):
        return
    names = _prepared.setdefault(raw, set())
    for sql in sqls:
        name = statement_name(sql)
        if name in names or len(names) >= MAX_PER_CONNECTION:
            continue
        # On the driver's cursor: a one-off per connection, not a query of the request
        # (query logging and the tests' query counts see the EXECUTEs, once per call).
        # Its errors become Django's, as the wrapped cursor's do: a database that went
        # away here is a 503 like anywhere else, not a driver exception.
        with connection.wrap_database_errors:
            cursor.cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        names.add(name)


def statement(cursor, sql: str, params) -> tuple[str, list]:
    """(SQL, params) that run `sql` on the cursor's connection: an EXECUTE of the
    statement prepared there (PREPAREd now if it is new), or `sql` itself where
    statements may not be prepared. In pipeline mode a new statement is sent as it is:
    a queued PREPARE would not run if a statement before it failed, and the
    connection would then believe it prepared."""
    connection = cursor.db
    if not may_prepare(connection):
        return sql, list(params)
    name = statement_name(sql)
    if name not in _prepared.get(connection.connection, ()):
        prepare(cursor, [sql])
        if name not in _prepared.get(connection.connection, ()):
            return sql, list(params)
    placeholders = ", ".join(["%s"] * len(params))
    return (f"EXECUTE {name}({placeholders})" if params else f"EXECUTE {name}"), list(params)


def execute(cursor, sql: str, params) -> None:
    """cursor.execute(sql, params), through a statement prepared on the cursor's
    connection when it may be. `cursor` is a Django cursor (connection.cursor())."""
    cursor.execute(*statement(cursor, sql, params))


def execute_together(cursor, statements: list[tuple[str, list]]) -> None:
    """Run fixed statements in order, each as `execute` would, in one message and one
    round trip; read their results in order, moving on with cursor.nextset(). PostgreSQL
    runs the statements of one message one after another, each with its own snapshot
    (READ COMMITTED), as if sent apart; the first that fails ends the message and the
    rest do not run. Inside a transaction only: outside one, each would commit alone."""
    if not cursor.db.in_atomic_block:
        raise RuntimeError("execute_together() runs inside transaction.atomic()")
    parts = [statement(cursor, sql, params) for sql, params in statements]
    cursor.execute("; ".join(sql for sql, _ in parts), [value for _, params in parts for value in params])


@dataclass(frozen=True)
class StatementResult:
    rowcount: int
    rows: list[tuple]


def run_together(cursor, statements: list[tuple[str, list]]) -> list[StatementResult]:
    """execute_together, then every statement's result (row count and rows), in order."""
    execute_together(cursor, statements)
    results = []
    for index in range(len(statements)):
        if index:
            cursor.nextset()
        # The result's status says whether it has rows; cursor.description would build
        # a Column object per column of every result only to be tested for emptiness.
        has_rows = cursor.pgresult.status == ExecStatus.TUPLES_OK
        results.append(StatementResult(cursor.rowcount, cursor.fetchall() if has_rows else []))
    return results


def columns(fields, alias: str | None = None) -> str:
    """The quoted column list of `fields` (concrete fields), each qualified by `alias`
    when given: the select list of a statement that names its columns."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f'{prefix}"{field.column}"' for field in fields)


# (id(fields), alias) -> (fields, attnames, per-column converters). The entry holds
# `fields` itself, so the id cannot be reused by another list while it is cached.
_loaders: dict[tuple[int, str], tuple[list, list[str], list[tuple]]] = {}


def _loader(fields, connection):
    key = (id(fields), connection.alias)
    entry = _loaders.get(key)
    if entry is None or entry[0] is not fields:
        converters = [tuple(field.get_db_converters(connection)) for field in fields]
        entry = _loaders[key] = (fields, [field.attname for field in fields], converters)
    return entry


def instance_from_row(model, fields, values, alias: str):
    """A `model` instance from one row of `fields` (concrete fields, in the statement's
    column order), each value converted as the ORM converts it (the field's converters,
    e.g. from_db_value). `fields` should be a list kept for reuse (a module constant):
    its converters are looked up once per connection alias."""
    from django.db import connections

    connection = connections[alias]
    _, attnames, converters = _loader(fields, connection)
    converted = []
    for field_converters, value in zip(converters, values, strict=True):
        for converter in field_converters:
            value = converter(value, None, connection)
        converted.append(value)
    return model.from_db(alias, attnames, converted)
