"""core.db.ahead: a query sent before its answer is needed. The answer is the plain
query's; the connection reads it before anything else uses the connection; errors come
out, translated, where the answer is asked for; the query is logged like any other."""

import psycopg
import pytest
from django.db import DataError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.db import ahead, prepared

pytestmark = pytest.mark.django_db(transaction=True)

LOOKUP = "SELECT email, %s::int * 2 FROM accounts.users WHERE id = %s AND 'ahead' = 'ahead'"


def _status():
    return connection.connection.pgconn.transaction_status


def test_the_answer_is_the_plain_querys_and_is_logged_once(regular_user):
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP, [21, regular_user.pk])
        plain = cursor.fetchone()
    with CaptureQueriesContext(connection) as queries:
        sent = ahead.send(connection, LOOKUP, [21, regular_user.pk])
        assert isinstance(sent, ahead.SentAhead)
        assert _status() == psycopg.pq.TransactionStatus.ACTIVE  # out, not yet read
        assert sent.fetchone() == plain == (regular_user.email, 42)
        sent.close()
    name = prepared.statement_name(LOOKUP)
    assert [q["sql"] for q in queries.captured_queries] == [f"EXECUTE {name}(21, '{regular_user.pk.hex}'::uuid)"]
    assert connection.sent_ahead is None


@pytest.mark.parametrize(
    "use",
    [
        pytest.param(lambda: connection.cursor().execute("SELECT 1"), id="a new cursor"),
        pytest.param(lambda: connection.is_usable(), id="the health check"),
        pytest.param(lambda: connection.set_autocommit(False) or connection.set_autocommit(True), id="autocommit"),
        pytest.param(lambda: connection.close(), id="close"),
    ],
)
def test_anything_else_on_the_connection_reads_the_answer_first(regular_user, use):
    sent = ahead.send(connection, LOOKUP, [1, regular_user.pk])
    use()  # would fail with "another command is already in progress" otherwise
    assert connection.sent_ahead is None
    assert sent.fetchone() == (regular_user.email, 2)
    sent.close()
    with connection.cursor() as cursor:  # the connection is free (reconnected after close)
        cursor.execute("SELECT 7")
        assert cursor.fetchone() == (7,)


def test_commit_and_rollback_read_the_answer_first(regular_user):
    for end in ("commit", "rollback"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            sent = ahead.send(connection, LOOKUP, [3, regular_user.pk])
            if end == "rollback":
                transaction.set_rollback(True)
        assert _status() == psycopg.pq.TransactionStatus.IDLE
        assert sent.fetchone() == (regular_user.email, 6)
        sent.close()


def test_a_query_sent_first_in_a_transaction_opens_it(regular_user):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE ahead_probe (n int)")
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            sent = ahead.send(connection, LOOKUP, [5, regular_user.pk])  # BEGIN goes with it
            assert sent.fetchone() == (regular_user.email, 10)
            sent.close()
            assert _status() == psycopg.pq.TransactionStatus.INTRANS
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO ahead_probe VALUES (1)")
            raise RuntimeError("roll back")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM ahead_probe")
            assert cursor.fetchone() == (0,)  # the insert was inside the transaction
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE ahead_probe")


def test_an_error_comes_out_translated_where_the_answer_is_asked_for(regular_user):
    sql = "SELECT 1 / %s::int FROM accounts.users WHERE id = %s"
    sent = ahead.send(connection, sql, [0, regular_user.pk])
    with connection.cursor() as cursor:  # another user of the connection is not disturbed
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
    assert connection.errors_occurred  # checked before the connection's next request
    with pytest.raises(DataError, match="division by zero"):
        sent.fetchone()
    sent.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 3")
        assert cursor.fetchone() == (3,)


def test_an_answer_nobody_read_is_read_on_close(regular_user):
    sent = ahead.send(connection, LOOKUP, [1, regular_user.pk])
    sent.close()
    sent.close()
    assert connection.sent_ahead is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 4")
        assert cursor.fetchone() == (4,)


def test_one_query_out_at_a_time(regular_user):
    first = ahead.send(connection, LOOKUP, [1, regular_user.pk])
    assert ahead.send(connection, LOOKUP, [2, regular_user.pk]) is None
    assert first.fetchone() == (regular_user.email, 2)
    first.close()


def test_a_connection_that_cannot_be_opened_fails_where_the_answer_is_asked_for(monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    sent = ahead.send(connection, LOOKUP, [1, None])
    assert isinstance(sent, ahead.FailedAhead)
    with pytest.raises(OperationalError, match="connection refused"):
        sent.fetchone()
    sent.close()
