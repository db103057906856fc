"""core.db.bound and the backend's bound_cursor(): fixed statements with their values bound
on the server, prepared by psycopg once per connection, answering as the plain statement
does, logged and failing as Django's other statements."""

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.test.utils import CaptureQueriesContext

from core.db import bound


def prepared_count(marker: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{marker}%"])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_prepared_at_first_use_then_executed_with_the_plain_statements_rows(regular_user):
    sql = "SELECT email, %s::int + 1 FROM accounts.users WHERE id = %s AND 'first use' = 'first use'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [41, regular_user.pk])
        plain = cursor.fetchone()
    assert prepared_count("first use") == 0
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            assert bound.fetch_row(sql, [41, regular_user.pk]) == plain == (regular_user.email, 42)
        # Logged as one statement, with its values quoted in as Django logs any other.
        [logged] = queries.captured_queries
        assert logged["sql"].startswith("SELECT email, 41::int + 1") and regular_user.pk.hex in logged["sql"]
        assert prepared_count("first use") == 1


@pytest.mark.django_db
def test_no_row_is_none(regular_user):
    assert (
        bound.fetch_row("SELECT email FROM accounts.users WHERE id = %s", ["00000000-0000-0000-0000-000000000000"])
        is None
    )


@pytest.mark.django_db(transaction=True)
def test_a_rollback_drops_the_prepared_statements_and_they_are_prepared_again(regular_user):
    sql = "SELECT email FROM accounts.users WHERE id = %s AND 'rollback' = 'rollback'"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert bound.fetch_row(sql, [regular_user.pk]) == (regular_user.email,)
        assert prepared_count("'rollback'") == 1
        raise RuntimeError("roll back")
    # psycopg deallocates what it prepared when a transaction is rolled back (a rollback
    # may undo what a statement was planned against); the next call prepares it again.
    assert prepared_count("'rollback'") == 0
    assert bound.fetch_row(sql, [regular_user.pk]) == (regular_user.email,)
    assert prepared_count("'rollback'") == 1


@pytest.mark.django_db
def test_a_column_added_later_does_not_break_a_statement_that_names_its_columns(regular_user):
    sql = "SELECT id, email FROM accounts.users WHERE id = %s AND 'columns' = 'columns'"
    assert bound.fetch_row(sql, [regular_user.pk]) == (regular_user.pk, regular_user.email)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE accounts.users ADD COLUMN added_later int")  # rolled back with the test
    assert bound.fetch_row(sql, [regular_user.pk]) == (regular_user.pk, regular_user.email)


@pytest.mark.django_db
def test_errors_are_djangos_not_the_drivers():
    """A database lost at that moment must be Django's OperationalError, which the API
    answers 503, not a driver exception answered 500: the cursor is wrapped as Django's."""
    with pytest.raises(ProgrammingError):
        bound.fetch_row("SELEKT %s::int AS not_sql", [1])


def test_prepared_except_behind_a_transaction_pooler_or_when_the_settings_say():
    from django.db import connections

    def threshold(options: dict):
        wrapper = connections.create_connection("default")
        wrapper.settings_dict = {**wrapper.settings_dict, "OPTIONS": {**wrapper.settings_dict["OPTIONS"], **options}}
        return wrapper.get_connection_params()["prepare_threshold"]

    assert threshold({}) == 0
    # Behind PgBouncer in transaction mode the next transaction may run on another
    # server connection, where the statement was never prepared.
    assert threshold({"search_path_in_options": False}) is None
    assert threshold({"prepare_threshold": 5}) == 5
