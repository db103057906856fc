"""The application role's privileges (least privilege), as SQL statements.

The application role owns nothing. It reads and writes the domain tables, but:
- the audit log and its pending entries: SELECT and INSERT only (sealing moves entries
  from audits.audit_pending into the log through the SECURITY DEFINER function
  audits.audit_seal; partitions come through audit_log_ensure_partition);
- quarantine records: no DELETE, and UPDATE only on the review columns;
- no TRUNCATE anywhere, and as a non-owner it can neither ALTER a table nor disable its
  triggers.
Future tables created by the owner get the same defaults (ALTER DEFAULT PRIVILEGES).
"""

from __future__ import annotations

from django.conf import settings
from psycopg import sql as pgsql

APPEND_ONLY_SCHEMAS = {"audits"}
# Tables in append-only schemas the app may still change (derived data, not evidence).
APPEND_ONLY_EXCEPTIONS = {
    "audits.audit_daily_counts": "SELECT, INSERT, UPDATE",
    "audits.audit_verifications": "SELECT, INSERT",
}
# Content that may never change: UPDATE only on the listed columns, never DELETE.
COLUMN_LIMITED = {
    "quarantine.quarantine_records": ["review_status", "reviewed_at", "reviewed_by_id", "review_notes", "updated_at"],
}


def _q(conn, name: str) -> str:
    return pgsql.Identifier(name).as_string(conn.connection) if conn.connection else f'"{name}"'


def _option(conn, name: str, default: int) -> int:
    return settings.DATABASES["default"].get("OPTIONS", {}).get(name) or default


def _existing(conn, qualified: str) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [qualified])
        return cursor.fetchone()[0]


def _columns(conn, qualified: str) -> set[str]:
    schema, table = qualified.split(".")
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [schema, table],
        )
        return {row[0] for row in cursor.fetchall()}


def grant_statements(conn, *, app_role: str, owner_role: str) -> list[str]:
    conn.ensure_connection()
    app, owner = _q(conn, app_role), _q(conn, owner_role)
    dbname = _q(conn, settings.DATABASES[conn.alias]["NAME"])
    all_schemas = ["public", *settings.DOMAIN_APPS]
    with conn.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", [all_schemas])
        present = {row[0] for row in cursor.fetchall()}
    # A schema appears with its app's first table; `migrate` re-runs these grants after.
    schemas = [schema for schema in all_schemas if schema in present]
    with conn.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        is_super, can_create_roles = cursor.fetchone()
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app_role])
        row = cursor.fetchone()
    out = []
    if row is None or can_create_roles or is_super:
        # Creating or reshaping a role needs CREATEROLE; without it, the role must exist
        # (the DBA or scripts/pg.sh made it) and only the grants below are (re)applied.
        out += [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app_role}') "
            f"THEN CREATE ROLE {app} LOGIN; END IF; END $$",
            f"ALTER ROLE {app} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
            # PgBouncer (transaction mode) refuses startup options: the role carries the
            # search path and the timeouts the connection options would otherwise set.
            f"ALTER ROLE {app} SET search_path = {', '.join(all_schemas)}",
            f"ALTER ROLE {app} SET statement_timeout = {int(_option(conn, 'statement_timeout_ms', 30000))}",
            f"ALTER ROLE {app} SET lock_timeout = {int(_option(conn, 'lock_timeout_ms', 10000))}",
        ]
    out.append(f"GRANT CONNECT ON DATABASE {dbname} TO {app}")
    for schema in schemas:
        s = _q(conn, schema)
        out.append(f"GRANT USAGE ON SCHEMA {s} TO {app}")
        out.append(f"REVOKE CREATE ON SCHEMA {s} FROM {app}")
        out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {app}")
        out.append(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {app}")
        out.append(f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {s} FROM {app}")
        if schema in APPEND_ONLY_SCHEMAS:
            out.append(f"REVOKE UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} FROM {app}")
            out.append(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {app}")
            out.append(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} REVOKE ALL ON TABLES FROM {app}")
            out.append(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} GRANT SELECT, INSERT ON TABLES TO {app}"
            )
        else:
            out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {app}")
            out.append(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {s} "
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}"
            )
    for table, privileges in APPEND_ONLY_EXCEPTIONS.items():
        if _existing(conn, table):
            out.append(f"GRANT {privileges} ON {table} TO {app}")
    for table, columns in COLUMN_LIMITED.items():
        if _existing(conn, table):
            updatable = [c for c in columns if c in _columns(conn, table)]
            out.append(f"REVOKE UPDATE, DELETE ON {table} FROM {app}")
            if updatable:
                out.append(f"GRANT UPDATE ({', '.join(_q(conn, c) for c in updatable)}) ON {table} TO {app}")
    # Migrations are the owner's business; the app only needs to read their state (/healthz).
    out.append(f"REVOKE INSERT, UPDATE, DELETE ON public.django_migrations FROM {app}")
    for function in (
        "audits.audit_log_ensure_partition(date)",
        "audits.audit_seal(bigint[], bigint[], text[], text[])",
        "audits.audit_log_seal_head(bigint, text)",
    ):
        out.append(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC")
        out.append(f"GRANT EXECUTE ON FUNCTION {function} TO {app}")
    return out
