"""core.db.prepared: hot fixed statements planned once per connection, with the same
rows and the same visible query as the plain statement."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.db import prepared


def server_prepared() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'tristate_%%'")
        return {row[0] for row in cursor.fetchall()}


def test_placeholders_are_numbered_and_percent_signs_unescaped():
    assert prepared._numbered("SELECT a FROM t WHERE x = %s AND y LIKE 'a%%' AND z = %s") == (
        "SELECT a FROM t WHERE x = $1 AND y LIKE 'a%' AND z = $2"
    )


@pytest.mark.django_db
def test_prepared_once_then_executed_with_the_plain_statements_rows(regular_user):
    sql = "SELECT email, %s::int + 1 FROM accounts.users WHERE id = %s AND email LIKE '%%@%%'"
    name = prepared.statement_name(sql)
    with connection.cursor() as cursor:
        cursor.execute(sql, [41, regular_user.pk])
        plain = cursor.fetchall()
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
            prepared.execute(cursor, sql, [41, regular_user.pk])
            assert cursor.fetchall() == plain == [(regular_user.email, 42)]
        # The request sees one query, the EXECUTE; PREPARE went once, on the driver's cursor.
        assert [q["sql"] for q in queries.captured_queries] == [f"EXECUTE {name}(41, '{regular_user.pk.hex}'::uuid)"]
    assert name in server_prepared()


@pytest.mark.django_db(transaction=True)
def test_a_rollback_does_not_undo_the_prepare(regular_user):
    sql = "SELECT email FROM accounts.users WHERE id = %s AND 'rollback' = 'rollback'"
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cursor:
            prepared.execute(cursor, sql, [regular_user.pk])
        raise RuntimeError("roll back")
    assert prepared.statement_name(sql) in server_prepared()
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, [regular_user.pk])
        assert cursor.fetchone() == (regular_user.email,)


@pytest.mark.django_db
def test_a_column_added_later_does_not_break_a_statement_that_names_its_columns(regular_user):
    sql = "SELECT id, email FROM accounts.users WHERE id = %s AND 'columns' = 'columns'"
    with connection.cursor() as cursor:
        prepared.execute(cursor, sql, [regular_user.pk])
        cursor.execute("ALTER TABLE accounts.users ADD COLUMN added_later int")  # rolled back with the test
        prepared.execute(cursor, sql, [regular_user.pk])
        assert cursor.fetchone() == (regular_user.pk, regular_user.email)


@pytest.mark.django_db
def test_plain_statements_behind_a_transaction_pooler_and_past_the_cap(regular_user, monkeypatch):
    sql = "SELECT email FROM accounts.users WHERE id = %s AND 'pooler' = 'pooler'"
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"search_path_in_options": False})
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        prepared.execute(cursor, sql, [regular_user.pk])
        assert cursor.fetchone() == (regular_user.email,)
    assert queries.captured_queries[0]["sql"].startswith("SELECT email")
    assert prepared.statement_name(sql) not in server_prepared()

    monkeypatch.undo()
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", len(prepared._prepared.get(connection.connection, ())))
    with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
        prepared.execute(cursor, sql, [regular_user.pk])
        assert cursor.fetchone() == (regular_user.email,)
    assert queries.captured_queries[0]["sql"].startswith("SELECT email")
    assert prepared.statement_name(sql) not in server_prepared()


@pytest.mark.django_db
@pytest.mark.parametrize("pooler", [False, True])
def test_statements_sent_together_answer_in_order_and_stop_at_the_first_error(regular_user, monkeypatch, pooler):
    if pooler:
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"search_path_in_options": False})
    first = ("SELECT email FROM accounts.users WHERE id = %s AND 'together' = 'together'", [regular_user.pk])
    update = "UPDATE accounts.users SET name = %s WHERE id = %s AND 'together' = 'together'"
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries, connection.cursor() as cursor:
            prepared.execute_together(cursor, [first, (update, ["X", regular_user.pk]), ("SELECT %s::int * 2", [21])])
            assert cursor.fetchall() == [(regular_user.email,)]
            cursor.nextset()
            assert cursor.rowcount == 1 and cursor.description is None
            cursor.nextset()
            assert cursor.fetchall() == [(42,)]
        assert len(queries.captured_queries) == 1  # one message, one round trip
        assert queries.captured_queries[0]["sql"].count("EXECUTE") == (0 if pooler else 3)

    # A sequence is not rolled back: it shows whether a statement after the failing one ran.
    sequence = "experiments.experiments_status_tally_writes"

    def last_value():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            return cursor.fetchone()

    before = last_value()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        prepared.execute_together(cursor, [("SELECT 1 / %s", [0]), (f"SELECT nextval('{sequence}') + %s", [0])])
    assert last_value() == before
    with transaction.atomic(), connection.cursor() as cursor:
        prepared.execute_together(cursor, [("SELECT 1 / %s", [1]), (f"SELECT nextval('{sequence}') + %s", [0])])
    assert last_value() != before  # the same pair without the error does move it


@pytest.mark.django_db(transaction=True)
def test_statements_are_sent_together_only_inside_a_transaction():
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"), connection.cursor() as cursor:
        prepared.execute_together(cursor, [("SELECT 1", []), ("SELECT 2", [])])


@pytest.mark.django_db(transaction=True)
def test_a_failing_prepare_raises_djangos_error_not_the_drivers():
    """The PREPARE runs on the driver's cursor; its errors are translated as the wrapped
    cursor's are (a database lost at that moment must be Django's OperationalError, which
    the API answers 503, not a driver exception answered 500)."""
    from django.db.utils import ProgrammingError

    with pytest.raises(ProgrammingError), connection.cursor() as cursor:
        prepared.execute(cursor, "SELEKT %s::int AS not_sql", [1])
