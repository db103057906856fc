"""The per-request connection health check (core.db.backends.postgresql.is_usable): a
healthy idle connection is judged without a round trip, a connection the server has
dropped is judged unusable, and Django then reconnects on the next request."""

import time

import pytest
from django.db import connection, connections
from django.db.utils import ConnectionHandler

pytestmark = pytest.mark.django_db(transaction=True)


def _own_connection():
    """A private Django connection to the test database (the shared one belongs to the
    test framework)."""
    handler = ConnectionHandler({"default": {**connections["default"].settings_dict}})
    private = handler["default"]
    private.ensure_connection()
    return private


class _NoQueries:
    def cursor(self, *args, **kwargs):
        raise AssertionError("the health check sent a query")


def test_a_healthy_idle_connection_is_usable_without_a_query(monkeypatch):
    private = _own_connection()
    try:
        raw = private.connection
        monkeypatch.setattr(raw, "cursor", _NoQueries().cursor)
        assert private.is_usable() is True
    finally:
        monkeypatch.undo()
        private.close()


def test_a_connection_the_server_dropped_is_unusable_and_replaced():
    private = _own_connection()
    try:
        pid = private.connection.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchone()[0] is True
        deadline = time.monotonic() + 10
        while private.is_usable():
            assert time.monotonic() < deadline, "a terminated connection still looked usable"
            time.sleep(0.05)
        # What Django does at the start of a request with health checks on.
        private.health_check_enabled, private.health_check_done = True, False
        private.close_if_health_check_failed()
        with private.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone()[0] != pid
    finally:
        private.close()


def test_inside_a_transaction_the_check_asks_the_server():
    private = _own_connection()
    try:
        private.connection.execute("BEGIN")
        private.connection.execute("SELECT 1")
        calls = []
        real_cursor = private.connection.cursor

        def counting_cursor(*args, **kwargs):
            calls.append(1)
            return real_cursor(*args, **kwargs)

        private.connection.cursor = counting_cursor
        assert private.is_usable() is True
        assert calls, "outside the idle state the check must ask the server"
        private.connection.execute("ROLLBACK")
    finally:
        private.close()


def test_a_connection_on_a_high_descriptor_is_judged_by_its_socket(monkeypatch):
    """Busy processes hold many descriptors: the check must not be limited to the first
    1024 (select's limit), or every such request would ask the server again."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("this machine allows too few open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    fillers = []
    try:
        while not fillers or fillers[-1] < 1100:
            fillers.append(os.open(os.devnull, os.O_RDONLY))
        private = _own_connection()
        try:
            assert private.connection.pgconn.socket > 1024
            monkeypatch.setattr(private.connection, "cursor", _NoQueries().cursor)
            assert private.is_usable() is True
        finally:
            monkeypatch.undo()
            private.close()
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
