"""Plain psycopg connections to the database a Django connection points at."""

# What psycopg.connect() needs to reach the server; the rest of Django's parameters
# (cursor factory, adapters context, prepare threshold) belong to Django's wrapper.
_CONNECT_KEYS = frozenset({"host", "port", "user", "password", "dbname", "options"})


def plain_connection_params(connection=None) -> dict:
    """psycopg.connect() keywords for the database of `connection` (default: Django's
    default one), for code that talks to it outside the ORM (worker processes,
    benchmarks' raw-SQL floors)."""
    if connection is None:
        from django.db import connection
    return {k: v for k, v in connection.get_connection_params().items() if k in _CONNECT_KEYS}
