"""PostgreSQL backend that keeps each domain app's tables in the schema named after it.

Django has no notion of schemas. Rather than the quoting trick (`db_table = 'a"."b'`),
which breaks flush, renames and several DDL operations, table names stay plain and
globally unique, every connection's search_path lists all app schemas, and the schema
editor creates each new table inside its app's schema. Everything else (FKs across
schemas, indexes, flush, introspection) then works unchanged.
"""

from datetime import UTC

from django.conf import settings
from django.db.backends.postgresql import base, operations, schema


def app_schemas() -> list[str]:
    return list(settings.DOMAIN_APPS)


def search_path() -> str:
    # public first: Django's own tables, and anything not owned by a domain app, land there.
    return ",".join(["public", *app_schemas()])


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def create_model(self, model):
        target = model._meta.app_label
        if target not in app_schemas():
            return super().create_model(model)
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote_name(target)}")
        # SET (not SET LOCAL) so it also works in non-atomic migrations; inside a
        # transaction that fails, PostgreSQL rolls the SET back by itself.
        self.execute(f"SET search_path TO {self.quote_name(target)},{search_path()}")
        try:
            super().create_model(model)
        except Exception:
            if not self.connection.in_atomic_block:
                self.execute(f"SET search_path TO {search_path()}")
            raise
        self.execute(f"SET search_path TO {search_path()}")


class DatabaseOperations(operations.DatabaseOperations):
    def adapt_datetimefield_value(self, value):
        # PostgreSQL refuses UTC offsets beyond ±15:59 ("time zone displacement out of
        # range") although ISO 8601 and Python allow up to ±23:59. Every aware value is
        # sent as UTC — the same instant — so no client-supplied offset can fail a query.
        if value is not None and getattr(value, "tzinfo", None) is not None:
            return value.astimezone(UTC)
        return value


# Keys of OPTIONS that this backend turns into server settings rather than passing to psycopg.
_SETTING_OPTIONS = {"statement_timeout_ms": "statement_timeout", "lock_timeout_ms": "lock_timeout"}


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
    ops_class = DatabaseOperations

    def get_connection_params(self):
        params = super().get_connection_params()
        server_settings = [f"-c search_path={search_path()}"]
        for key, name in _SETTING_OPTIONS.items():
            value = params.pop(key, None)
            if value:
                server_settings.append(f"-c {name}={int(value)}")
        if params.pop("search_path_in_options", True) is False:
            # Behind PgBouncer (transaction mode) startup options are refused: the search
            # path and timeouts then come from the role (`ALTER ROLE ... SET`, done by
            # manage.py db_roles).
            server_settings = []
        existing = params.get("options", "")
        params["options"] = " ".join(filter(None, [existing, *server_settings]))
        if not params["options"]:
            params.pop("options")
        return params
