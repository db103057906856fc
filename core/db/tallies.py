"""Exact row counts by one column, read in constant time: tallies kept by triggers.

An unfiltered or status-only list over a whole table (an admin's "all failed sessions")
must show an exact `count`. `count(*)` over 60,000 matching rows costs more than the
rest of the request; a tally answers the same number from a few hundred rows.

For a table T and a NOT NULL column C, `install_sql` creates, in T's schema:
- `T_C_tally (value, delta)`: every committed row of T is counted by the sum of `delta`
  over the tally rows with its `value`;
- statement-level AFTER INSERT / UPDATE / DELETE triggers (with transition tables, so a
  bulk INSERT or COPY adds one tally row per value, not per row) that append
  `(value, ±n)`, and an AFTER TRUNCATE trigger that empties the tally;
- `T_C_tally_fold()`: replaces the tally rows by one per value. Every 256th tally write
  calls it, in the writer's transaction, under a try-advisory lock: one fold at a time,
  nobody ever waits for it.

Why appended deltas and not one counter row per value: a counter row is a hot row. Every
transaction that creates a row or changes its status would queue on it, and two that
touch two values in opposite orders deadlock. Appending takes no row lock at all; only a
fold deletes tally rows, and folds never run concurrently. The tally rows are written in
the same transaction as the rows they count, so a count read in one snapshot with the
page is exact, under any concurrency, on the primary or on a streaming replica.

A fold is skipped outside READ COMMITTED: a REPEATABLE READ writer whose snapshot
predates another fold would hit that fold's deletions and fail with a serialization
error it did not cause.

Triggers do not fire for writes made with session_replication_role = replica (a data-only
restore with --disable-triggers, logical replication): `manage.py tallies` compares every
tally with a count of its table in one snapshot, and `--rebuild` reseeds them.

`tally_count(model, column, values)` is the read side: the SQL giving the count of the
rows with `column` in `values` (or of the whole table) from the tally.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from core.locks import AdvisoryLock

# Two-key advisory lock (FOLD_LOCK, hashtext(tally table)), transaction-scoped.
FOLD_LOCK = int(AdvisoryLock.TALLY_FOLD)
FOLD_EVERY = 256

# (schema, table, column) of every tally the migrations install.
TALLIES = (("experiments", "experiments", "status"), ("production", "analysis_sessions", "status"))


def tally_table(table: str, column: str) -> str:
    """The tally of `table` (unqualified: names are unique across schemas) by `column`."""
    return f"{table}_{column}_tally"


def install_sql(schema: str, table: str, column: str) -> str:
    """Create the tally of `schema.table` by `column`, its triggers and its fold, and
    seed it from the rows present (the table is locked against writes meanwhile). A new
    tally's migration carries this text, copied in (migrations never import it)."""
    t = f"{schema}.{table}"
    tally = f"{schema}.{tally_table(table, column)}"
    return f"""
LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE {tally} (value text NOT NULL, delta bigint NOT NULL);
CREATE INDEX {tally_table(table, column)}_value ON {tally} (value) INCLUDE (delta);
CREATE SEQUENCE {tally}_writes;
COMMENT ON TABLE {tally} IS 'Row count of {t} by {column}: sum(delta) per value. Kept by triggers (core.db.tallies).';

CREATE FUNCTION {tally}_fold() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed'
       AND pg_try_advisory_xact_lock({FOLD_LOCK}, hashtext('{tally}')) THEN
        WITH gone AS (DELETE FROM {tally} RETURNING value, delta)
        INSERT INTO {tally} (value, delta)
        SELECT value, sum(delta) FROM gone GROUP BY value HAVING sum(delta) <> 0;
    END IF;
END $$;

CREATE FUNCTION {tally}_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {tally} (value, delta) SELECT {column}, count(*) FROM new_rows GROUP BY {column};
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {tally} (value, delta) SELECT {column}, -count(*) FROM old_rows GROUP BY {column};
    ELSE  -- an update that leaves {column} alone nets to nothing and writes nothing
        INSERT INTO {tally} (value, delta)
        SELECT value, sum(delta) FROM (
            SELECT {column} AS value, -1 AS delta FROM old_rows
            UNION ALL SELECT {column}, 1 FROM new_rows
        ) AS change GROUP BY value HAVING sum(delta) <> 0;
    END IF;
    IF FOUND AND nextval('{tally}_writes') % {FOLD_EVERY} = 0 THEN
        PERFORM {tally}_fold();
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION {tally}_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {tally};
    RETURN NULL;
END $$;

CREATE TRIGGER {table}_{column}_tally_insert AFTER INSERT ON {t}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {tally}_count();
CREATE TRIGGER {table}_{column}_tally_update AFTER UPDATE ON {t}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {tally}_count();
CREATE TRIGGER {table}_{column}_tally_delete AFTER DELETE ON {t}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {tally}_count();
CREATE TRIGGER {table}_{column}_tally_truncate AFTER TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION {tally}_reset();

INSERT INTO {tally} (value, delta) SELECT {column}, count(*) FROM {t} GROUP BY {column};
"""


def uninstall_sql(schema: str, table: str, column: str) -> str:
    t = f"{schema}.{table}"
    tally = f"{schema}.{tally_table(table, column)}"
    triggers = "".join(
        f"DROP TRIGGER IF EXISTS {table}_{column}_tally_{op} ON {t};\n"
        for op in ("insert", "update", "delete", "truncate")
    )
    return (
        triggers + f"DROP FUNCTION IF EXISTS {tally}_count(), {tally}_reset(), {tally}_fold();\n"
        f"DROP TABLE IF EXISTS {tally};\nDROP SEQUENCE IF EXISTS {tally}_writes;\n"
    )


def drift(schema: str, table: str, column: str) -> dict[str, tuple[int, int]]:
    """{value: (tallied, counted)} for every value whose tally differs from a count of the
    table; both read by one statement, so in one snapshot: concurrent writers cause none."""
    tally = f"{schema}.{tally_table(table, column)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(t.value, c.value), coalesce(t.total, 0), coalesce(c.total, 0) "
            f"FROM (SELECT value, sum(delta)::bigint AS total FROM {tally} GROUP BY value) AS t "
            f"FULL JOIN (SELECT {column}::text AS value, count(*) AS total FROM {schema}.{table} "
            f"GROUP BY {column}) AS c "
            "ON c.value = t.value WHERE coalesce(t.total, 0) <> coalesce(c.total, 0)"
        )
        return {value: (tallied, counted) for value, tallied, counted in cursor.fetchall()}


def rebuild(schema: str, table: str, column: str) -> int:
    """Reseed the tally from a count of the table, writes to the table held off meanwhile;
    returns the number of rows counted."""
    tally = f"{schema}.{tally_table(table, column)}"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {schema}.{table} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"DELETE FROM {tally}")
        cursor.execute(
            f"INSERT INTO {tally} (value, delta) SELECT {column}, count(*) FROM {schema}.{table} GROUP BY {column}"
        )
        cursor.execute(f"SELECT coalesce(sum(delta), 0)::bigint FROM {tally}")
        return cursor.fetchone()[0]


def tally_count(model, column: str, values: Iterable[str] | None = None) -> tuple[str, list]:
    """(SQL, params) of one row and column: how many rows of `model`'s table have `column`
    in `values` (every row when `values` is None), read from its tally by `column`. The
    caller decides that the list it counts is exactly that (core.api.lists: a user who
    sees every row, filtered by `column` alone)."""
    sql = f"SELECT coalesce(sum(delta), 0)::bigint FROM {tally_table(model._meta.db_table, column)}"
    if values is None:
        return sql, []
    # A TextChoices member as its plain value.
    return sql + " WHERE value = ANY(%s)", [sorted({str.__str__(value) for value in values})]
