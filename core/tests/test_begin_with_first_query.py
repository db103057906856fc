"""BEGIN travels with a transaction's first query (core.db.backends.postgresql.cursor):
one message less per transaction, and transactions behave exactly as before — what
commits, what rolls back, errors, row counts, isolation, and the paths (COPY) that keep
psycopg's own BEGIN."""

import tempfile

import psycopg
import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.utils import ConnectionHandler

pytestmark = pytest.mark.django_db(transaction=True)


def _traced_queries(raw, action) -> list[str]:
    """The Query messages the client sent while running action() (libpq's protocol trace)."""
    with tempfile.TemporaryFile("w+") as trace:
        raw.pgconn.trace(trace.fileno())
        try:
            action()
        finally:
            raw.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    queries, current = [], None
    for line in lines:
        fields = line.split("\t")
        if len(fields) > 3 and fields[1] in ("F", "B"):
            if current is not None:
                queries.append(current)
                current = None
            if fields[1] == "F" and fields[3] == "Query":
                current = fields[4].strip()
        elif current is not None:  # a multi-line query text goes on
            current += "\n" + line
    if current is not None:
        queries.append(current)
    return queries


@pytest.fixture
def scratch():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE begin_probe (n int NOT NULL CHECK (n >= 0))")
    yield "begin_probe"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS begin_probe")


def _count(table) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def test_a_transaction_costs_one_message_less():
    connection.ensure_connection()

    def one_write():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT %s::int", [41])
            assert cursor.fetchone() == (41,)
            cursor.execute("SELECT 2")

    queries = _traced_queries(connection.connection, one_write)
    # psycopg alone sends four: "BEGIN", then each query, then "COMMIT".
    assert queries == ['"BEGIN;\nSELECT 41::int"', '"SELECT 2"', '"COMMIT"']


def test_committed_and_rolled_back_transactions_behave_as_before(scratch):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {scratch} (n) SELECT generate_series(1, 3)")
        assert cursor.rowcount == 3
    assert _count(scratch) == 3

    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {scratch} (n) VALUES (4)")
            assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        raise RuntimeError("roll back")
    assert _count(scratch) == 3


def test_a_failing_first_statement_raises_its_own_error_and_rolls_back(scratch):
    with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {scratch} (n) VALUES (-1)")
    assert "begin_probe_n_check" in str(caught.value)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    # The connection goes on working, in and out of transactions.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {scratch} (n) VALUES (5)")
    assert _count(scratch) == 1


def test_the_first_statement_may_set_the_isolation_level():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone()[0] == "repeatable read"


def test_isolation_configured_on_the_connection_is_kept():
    handler = ConnectionHandler(
        {
            "default": {
                **connections["default"].settings_dict,
                "OPTIONS": {
                    **connections["default"].settings_dict["OPTIONS"],
                    "isolation_level": psycopg.IsolationLevel.SERIALIZABLE,
                },
            }
        }
    )
    private = handler["default"]
    try:
        private.ensure_connection()
        private.set_autocommit(False)
        with private.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            assert cursor.fetchone()[0] == "serializable"
        private.rollback()
    finally:
        private.close()


def test_copy_as_the_first_statement_stays_inside_the_transaction(scratch):
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor, cursor.copy(f"COPY {scratch} (n) FROM STDIN") as copy:
            copy.write_row([7])
        raise RuntimeError("roll back")
    assert _count(scratch) == 0


@pytest.mark.parametrize("nothing", ["", "-- nothing to run"])
def test_a_first_query_with_nothing_to_run_still_opens_the_transaction(scratch, nothing):
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(nothing)
            assert cursor.description is None
            cursor.execute(f"INSERT INTO {scratch} (n) VALUES (8)")
        raise RuntimeError("roll back")
    assert _count(scratch) == 0


def test_the_backend_uses_the_cursor():
    from core.db.backends.postgresql.cursor import BeginWithFirstQueryCursor

    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, BeginWithFirstQueryCursor)
