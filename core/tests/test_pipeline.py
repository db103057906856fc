"""core.db.pipeline: statements sent together answer in order, as if sent apart, and an
error stops the rest and comes back as Django's exception."""

import itertools
import os
import tempfile
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from psycopg import pq

from core.db import pipeline

SEQUENCE = "audits.audit_log_id_seq"


@contextmanager
def protocol_trace():
    """The client/server messages of the block, as libpq's trace writes them (F: sent
    by the client, B: by the server)."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    with tempfile.TemporaryFile() as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        lines: list[str] = []
        try:
            yield lines
        finally:
            pgconn.untrace()
            os.fsync(out.fileno())
            out.seek(0)
            lines.extend(line for line in out.read().decode().splitlines() if line.strip())


def round_trips(lines: list[str]) -> int:
    """How many times the client sent something and then read an answer."""
    directions = [line.split("\t", 1)[0] for line in lines]
    return sum(1 for before, after in itertools.pairwise(directions) if before == "F" and after == "B")


@pytest.mark.django_db
@pytest.mark.parametrize("pooler", [False, True])
def test_statements_run_together_answer_in_order_in_one_round_trip(regular_user, monkeypatch, pooler):
    if pooler:  # behind a transaction pooler: plain statements, nothing prepared
        monkeypatch.setitem(connection.settings_dict, "OPTIONS", {"search_path_in_options": False})
    update = "UPDATE accounts.users SET name = %s WHERE id = %s AND 'together' = 'together'"
    statements = [
        ("SELECT email FROM accounts.users WHERE id = %s AND 'together' = 'together'", [regular_user.pk]),
        (update, ["X", regular_user.pk]),
        ("SELECT %s::int * 2", [21]),
    ]
    with transaction.atomic():
        pipeline.run_together(statements)  # BEGIN, and the statements prepared, are behind us
        with protocol_trace() as trace:
            first, second, third = pipeline.run_together(statements)
    assert first.rows == [(regular_user.email,)]
    assert second.rowcount == 1 and second.rows == []
    assert third.rows == [(42,)]
    assert round_trips(trace) == 1
    regular_user.refresh_from_db()
    assert regular_user.name == "X"


def _sequence_value():
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value, is_called FROM {SEQUENCE}")
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_the_first_error_stops_the_statements_after_it_and_is_djangos():
    before = _sequence_value()
    # A sequence is not rolled back: it shows whether the statement after the error ran.
    with pytest.raises(DatabaseError), transaction.atomic():
        pipeline.run_together([("SELECT 1 / %s", [0]), (f"SELECT nextval('{SEQUENCE}') + %s", [0])])
    assert _sequence_value() == before
    with transaction.atomic():
        pipeline.run_together([("SELECT 1 / %s", [1]), (f"SELECT nextval('{SEQUENCE}') + %s", [0])])
    assert _sequence_value() != before  # the same pair without the error does move it


@pytest.mark.django_db(transaction=True)
def test_an_error_in_a_pipelined_block_is_raised_at_its_end_and_rolls_the_transaction_back(regular_user):
    from accounts.models import User

    with pytest.raises(IntegrityError), transaction.atomic(), pipeline.pipelined():
        User.objects.filter(pk=regular_user.pk).update(name="changed in the block")
        with connection.cursor() as cursor:
            # A duplicate primary key: its error arrives when the block's results do.
            cursor.execute("INSERT INTO accounts.users SELECT * FROM accounts.users WHERE id = %s", [regular_user.pk])
    regular_user.refresh_from_db()
    assert regular_user.name != "changed in the block"


@pytest.mark.django_db(transaction=True)
def test_an_experiment_is_created_in_four_round_trips_with_its_audit_entry(regular_user, settings):
    """BEGIN; the project's lock, the config hash's lock and the blacklist read; the row
    and its audit entry; COMMIT (the sealer is off here: it runs after the commit)."""
    from audits.models import AuditEntry
    from audits.services import audit_ids_forget
    from experiments.models import Experiment
    from experiments.services import experiment_create
    from projects.services import project_create

    settings.AUDIT_SEALER = "off"
    project = project_create(owner=regular_user, name="round trips", actor=regular_user)
    experiment_create(project=project, name="warm", config={"a": 1}, actor=regular_user)  # statements prepared
    audit_ids_forget()
    experiment_create(project=project, name="refill", config={"a": 2}, actor=regular_user)  # an id block taken
    with protocol_trace() as trace:
        made = experiment_create(project=project, name="traced", config={"b": 1, "a": 2}, actor=regular_user)
    assert round_trips(trace) == 4
    assert Experiment.objects.filter(pk=made.pk).exists()
    assert AuditEntry.objects.filter(entity="experiment", action="create", payload__id=str(made.pk)).count() == 1
