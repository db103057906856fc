"""An audited write's round trips: BEGIN, one statement with the locks, the checks' reads
and the change with its audit entry, COMMIT."""

import itertools
import os
import tempfile
from contextlib import contextmanager

import pytest
from django.db import connection
from psycopg import pq


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


@pytest.mark.django_db(transaction=True)
def test_an_experiment_is_created_in_three_round_trips_with_its_audit_entry(regular_user, settings):
    """BEGIN; one statement: the project's lock, the config hash's lock, the blacklist
    read, the row and its audit entry; COMMIT (the sealer is off here: it runs after the
    commit)."""
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
    assert round_trips(trace) == 3
    assert Experiment.objects.filter(pk=made.pk).exists()
    assert AuditEntry.objects.filter(entity="experiment", action="create", payload__id=str(made.pk)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_experiment_moves_in_three_round_trips_with_its_audit_entry(regular_user, settings):
    """BEGIN; one statement: the project's lock, the experiment's row lock with its
    status, the UPDATE and its audit entry; COMMIT."""
    from audits.models import AuditEntry
    from experiments.models import Experiment
    from experiments.services import experiment_create, experiment_transition
    from projects.services import project_create

    settings.AUDIT_SEALER = "off"
    project = project_create(owner=regular_user, name="round trips", actor=regular_user)
    warm = experiment_create(project=project, name="warm", config={"a": 1}, actor=regular_user)
    experiment_transition(experiment=warm, to="running", actor=regular_user)  # statements prepared
    made = experiment_create(project=project, name="traced", config={"a": 2}, actor=regular_user)
    with protocol_trace() as trace:
        experiment_transition(experiment=made, to="running", actor=regular_user)
    assert round_trips(trace) == 3
    assert Experiment.objects.get(pk=made.pk).status == "running"
    assert AuditEntry.objects.filter(entity="experiment", action="transition", payload__id=str(made.pk)).count() == 1
