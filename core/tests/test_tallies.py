"""Tallies (core.db.tallies): row counts by status kept by triggers, exact after every
kind of write, folded without ever blocking a writer, exact under concurrent writers and
folds; and the read side answers only the querysets a tally can count."""

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now

from core.db.tallies import FOLD_EVERY, tally_count
from core.testing import run_together
from experiments import services
from experiments.models import Experiment, Status
from production.models import AnalysisSession
from projects.tests.factories import make_experiment, make_project

TALLY = "experiments.experiments_status_tally"


def tallied() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value, sum(delta) FROM {TALLY} GROUP BY value HAVING sum(delta) <> 0")
        return dict(cursor.fetchall())


def counted() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM experiments GROUP BY status")
        return dict(cursor.fetchall())


def tally_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TALLY}")
        return cursor.fetchone()[0]


def fold() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {TALLY}_fold()")


def no_automatic_fold() -> None:
    """Every FOLD_EVERYth tally write folds, and the counter is a sequence other tests
    advance too: start it where this test's few writes cannot reach a multiple."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval('{TALLY}_writes', 1)")


@pytest.mark.django_db
def test_every_kind_of_write_keeps_the_tally_exact(regular_user):
    no_automatic_fold()
    project = make_project(regular_user, baselines=())
    made = [make_experiment(project, regular_user, status=s) for s in (Status.CREATED, Status.RUNNING, Status.RUNNING)]
    assert tallied() == counted() and counted() == {"created": 1, "running": 2}

    before = tally_rows()
    Experiment.objects.filter(pk=made[0].pk).update(name="renamed")  # status untouched: nothing written
    assert tally_rows() == before

    Experiment.objects.filter(status=Status.RUNNING).update(status=Status.COMPLETED)  # one statement, two rows
    assert tallied() == counted() == {"created": 1, "completed": 2}

    Experiment.objects.filter(pk=made[1].pk).delete()
    assert tallied() == counted() == {"created": 1, "completed": 1}

    # A bulk insert adds one tally row per value, not one per row.
    before = tally_rows()
    Experiment.objects.bulk_create(
        [
            Experiment(
                project=project,
                created_by=regular_user,
                name=f"bulk {n}",
                config={"n": n},
                config_text=f'{{"n":{n}}}',
                config_hash=f"{n:064x}",
                dataset_id="d",
            )
            for n in range(20)
        ]
    )
    assert tally_rows() == before + 1
    assert tallied() == counted() == {"created": 21, "completed": 1}

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks pend otherwise
        cursor.execute("TRUNCATE experiments CASCADE")
    assert tallied() == counted() == {}


@pytest.mark.django_db
def test_a_fold_leaves_one_row_per_value_and_the_same_sums(regular_user):
    no_automatic_fold()
    project = make_project(regular_user, baselines=())
    for status in (Status.CREATED, Status.RUNNING, Status.COMPLETED, Status.FAILED, Status.FAILED):
        make_experiment(project, regular_user, status=status)
    Experiment.objects.filter(status=Status.FAILED).delete()  # a value that nets to zero
    before = tallied()
    assert tally_rows() > len(before)
    fold()
    assert tally_rows() == len(before) == 3  # no row for "failed": its sum is zero
    assert tallied() == before == counted()


@pytest.mark.django_db
def test_every_FOLD_EVERYth_tally_write_folds(regular_user):
    no_automatic_fold()
    project = make_project(regular_user, baselines=())
    for _ in range(3):
        make_experiment(project, regular_user)
    assert tally_rows() == 3
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval('{TALLY}_writes', %s)", [FOLD_EVERY * 10 - 1])
    make_experiment(project, regular_user)  # the write numbered FOLD_EVERY * 10
    assert tally_rows() == 1 and tallied() == counted() == {"created": 4}


@pytest.mark.django_db(transaction=True)
def test_a_repeatable_read_writer_does_not_fold(regular_user):
    no_automatic_fold()
    project = make_project(regular_user, baselines=())
    make_experiment(project, regular_user)
    make_experiment(project, regular_user)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        fold()
    assert tally_rows() == 2
    fold()
    assert tally_rows() == 1


@pytest.mark.django_db(transaction=True)
def test_a_fold_does_not_wait_for_another_fold(regular_user):
    no_automatic_fold()
    project = make_project(regular_user, baselines=())
    for _ in range(3):
        make_experiment(project, regular_user)
    with transaction.atomic():
        fold()  # holds the fold lock until this block ends
        assert tally_rows() == 1
        make_experiment(project, regular_user)
        [result] = run_together(fold, timeout=10)  # another connection: skips, does not block
        assert result is None
    assert tally_rows() == 2 and tallied() == counted() == {"created": 4}


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_transitions_deletes_and_folds_keep_the_tally_exact(regular_user):
    project = make_project(regular_user, baselines=())
    seeded = [make_experiment(project, regular_user) for _ in range(12)]

    def writer(n):
        def run():
            made = []
            for i in range(6):
                experiment = make_experiment(project, regular_user, status=Status.RUNNING)
                made.append(
                    services.experiment_transition(
                        experiment=experiment, to=Status.COMPLETED if i % 2 else Status.FAILED, actor=regular_user
                    )
                )
                fold()
            Experiment.objects.filter(pk__in=[e.pk for e in seeded[n * 3 : n * 3 + 3]]).update(status=Status.RUNNING)
            Experiment.objects.filter(pk=made[0].pk).delete()  # one of its failed ones
            return "done"

        return run

    results = run_together(*[writer(n) for n in range(4)])
    assert results == ["done"] * 4
    assert tallied() == counted() == {"running": 12, "completed": 12, "failed": 8}
    fold()
    assert tally_rows() == 3


@pytest.mark.django_db
def test_tally_count_counts_the_table_or_the_rows_of_the_values_given(regular_user):
    project = make_project(regular_user, baselines=())
    for status in (Status.CREATED, Status.RUNNING, Status.RUNNING, Status.COMPLETED):
        make_experiment(project, regular_user, status=status)

    def via_tally(values):
        with connection.cursor() as cursor:
            cursor.execute(*tally_count(Experiment, "status", values))
            return cursor.fetchone()[0]

    assert via_tally(None) == Experiment.objects.count()
    for values in ([Status.RUNNING], [Status.RUNNING, Status.CREATED], [Status.COMPLETED, "no such status"], []):
        assert via_tally(values) == Experiment.objects.filter(status__in=values).count(), values


@pytest.mark.django_db
def test_sessions_have_a_status_tally_too(regular_user):
    from production.tests.factories import make_session

    project = make_project(regular_user, baselines=())
    for _ in range(3):
        make_session(regular_user, project)
    AnalysisSession.objects.filter(pk=AnalysisSession.objects.first().pk).update(status="running", started_at=Now())
    with connection.cursor() as cursor:
        cursor.execute("SELECT value, sum(delta) FROM production.analysis_sessions_status_tally GROUP BY value")
        tally = {value: total for value, total in cursor.fetchall() if total}
    assert tally == {"created": 2, "running": 1}
    with connection.cursor() as cursor:
        cursor.execute(*tally_count(AnalysisSession, "status", ["created"]))
        assert cursor.fetchone()[0] == 2


@pytest.mark.django_db
def test_the_tallies_command_finds_drift_and_rebuilds(regular_user):
    from io import StringIO

    from django.core.management import CommandError, call_command

    no_automatic_fold()

    project = make_project(regular_user, baselines=())
    for status in (Status.CREATED, Status.RUNNING):
        make_experiment(project, regular_user, status=status)
    out = StringIO()
    call_command("tallies", stdout=out)
    assert out.getvalue().splitlines() == [
        "experiments.experiments by status: ok",
        "production.analysis_sessions by status: ok",
    ]
    # What a restore with triggers disabled leaves: a tally that missed a change.
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TALLY} (value, delta) VALUES ('running', -1), ('failed', 1)")
    out = StringIO()
    with pytest.raises(CommandError, match="1 tallies differ"):
        call_command("tallies", stdout=out)
    assert "experiments.experiments by status: 'failed' tallied 1, counted 0" in out.getvalue()
    assert "experiments.experiments by status: 'running' tallied 0, counted 1" in out.getvalue()

    out = StringIO()
    call_command("tallies", "--rebuild", stdout=out)
    assert "experiments.experiments by status: rebuilt (2 rows)" in out.getvalue()
    assert tallied() == counted() == {"created": 1, "running": 1}
    call_command("tallies", stdout=StringIO())
