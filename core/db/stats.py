"""Database health figures operators used to query by hand (manage.py dbstats, the admin
"Database health" page). Read-only catalog and statistics queries; cheap on any size."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def _rows(sql: str, params=None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [col.name for col in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _schemas() -> list[str]:
    return ["public", *settings.DOMAIN_APPS]


def schema_sizes() -> list[dict]:
    return _rows(
        """
        SELECT n.nspname AS schema, count(*) FILTER (WHERE c.relkind IN ('r','p')) AS tables,
               COALESCE(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind = 'r'), 0)::bigint AS bytes
        FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
        WHERE n.nspname = ANY(%s) GROUP BY n.nspname ORDER BY bytes DESC
        """,
        [_schemas()],
    )


def table_stats() -> list[dict]:
    """Per table: size, estimated rows, dead tuples, last (auto)vacuum and analyze."""
    return _rows(
        """
        SELECT s.schemaname AS schema, s.relname AS table, pg_total_relation_size(s.relid)::bigint AS bytes,
               -- reltuples is -1 until a table is first vacuumed or analysed: the live
               -- tuple count of the statistics collector is the estimate until then.
               (CASE WHEN c.reltuples < 0 THEN s.n_live_tup ELSE c.reltuples END)::bigint AS row_estimate,
               s.n_live_tup AS live_tuples,
               s.n_dead_tup AS dead_tuples,
               GREATEST(s.last_vacuum, s.last_autovacuum) AS last_vacuum,
               GREATEST(s.last_analyze, s.last_autoanalyze) AS last_analyze,
               s.seq_scan, s.idx_scan
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.schemaname = ANY(%s) ORDER BY bytes DESC
        """,
        [_schemas()],
    )


def partitions() -> list[dict]:
    return _rows(
        """
        SELECT p.relname AS parent, c.relname AS partition, pg_get_expr(c.relpartbound, c.oid) AS bounds,
               pg_total_relation_size(c.oid)::bigint AS bytes,
               (CASE WHEN c.reltuples < 0 THEN COALESCE(st.n_live_tup, 0) ELSE c.reltuples END)::bigint
                   AS row_estimate,
               i.inhdetachpending AS detach_pending
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = ANY(%s) AND p.relkind = 'p' ORDER BY p.relname, c.relname
        """,
        [_schemas()],
    )


def index_usage() -> list[dict]:
    """Every index with its scans since the statistics reset; unused ones are flagged
    (except those backing primary keys and unique constraints, which enforce rules)."""
    return _rows(
        """
        SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, s.idx_scan AS scans,
               pg_relation_size(s.indexrelid)::bigint AS bytes, x.indisunique AS is_unique,
               (s.idx_scan = 0 AND NOT x.indisunique AND NOT x.indisprimary) AS unused
        FROM pg_stat_user_indexes s JOIN pg_index x ON x.indexrelid = s.indexrelid
        WHERE s.schemaname = ANY(%s) ORDER BY unused DESC, bytes DESC
        """,
        [_schemas()],
    )


def connections_summary() -> dict:
    rows = _rows(
        """
        SELECT count(*) AS total, count(*) FILTER (WHERE state = 'active') AS active,
               count(*) FILTER (WHERE state = 'idle in transaction') AS idle_in_transaction,
               current_setting('max_connections')::int AS max_connections
        FROM pg_stat_activity WHERE datname = current_database()
        """
    )
    return rows[0]


def longest_queries(limit: int = 5) -> list[dict]:
    return _rows(
        """
        SELECT pid, usename AS role, state, EXTRACT(EPOCH FROM now() - query_start)::float AS seconds,
               wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) AS query
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' AND query_start IS NOT NULL
        ORDER BY query_start LIMIT %s
        """,
        [limit],
    )


def database_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def collect() -> dict:
    return {
        "database_bytes": database_size(),
        "schemas": schema_sizes(),
        "tables": table_stats(),
        "partitions": partitions(),
        "indexes": index_usage(),
        "connections": connections_summary(),
        "longest_queries": longest_queries(),
    }
