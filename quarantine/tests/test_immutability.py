"""The database itself keeps quarantine records read-only: content columns never change
and rows are never deleted, whoever asks (ORM, raw SQL, the admin)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from projects.tests.factories import quarantined_experiment
from quarantine.models import CONTENT_COLUMNS, QuarantineRecord, RecordStatus

CHANGES = {
    "experiment_id": None,  # replaced by another experiment's id below
    "config_hash": "0" * 64,
    "config": '{"model": "forged"}',
    "config_text": '{"model": "forged"}',
    "reason": "'rewritten'",
    "evidence": '{"forged": true}',
    "failure_metrics": '{"accuracy": 1}',
    "quarantined_at": "now() - interval '1 day'",
    "quarantined_by_id": "NULL",
    "created_at": "now() - interval '1 day'",
    "id": "gen_random_uuid()",
}


@pytest.fixture
def record(project, regular_user):
    return quarantined_experiment(project, regular_user)[1]


def _sql_value(column, value):
    if column in ("config", "evidence", "failure_metrics"):
        return f"'{value}'::jsonb"
    if column in ("config_hash", "config_text"):
        return f"'{value}'"
    return value


@pytest.mark.django_db
@pytest.mark.parametrize("column", sorted(CHANGES))
def test_every_content_column_is_immutable(record, project, regular_user, column):
    assert column in CONTENT_COLUMNS
    value = CHANGES[column]
    if column == "experiment_id":
        other, _ = quarantined_experiment(project, regular_user, config={"model": "other"})
        value = f"'{other.pk}'"
    with pytest.raises(DatabaseError, match="read-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE quarantine.quarantine_records SET {column} = {_sql_value(column, value)} WHERE id = %s",
            [record.pk],
        )
    assert QuarantineRecord.objects.get(pk=record.pk).reason == record.reason


@pytest.mark.django_db
def test_orm_save_of_content_is_refused_too(record):
    record.reason = "nicer wording"
    with pytest.raises(DatabaseError), transaction.atomic():
        record.save()


@pytest.mark.django_db
def test_review_columns_may_change(record, admin_user):
    now = timezone.now()
    updated = QuarantineRecord.objects.filter(pk=record.pk).update(
        review_status=RecordStatus.UNDER_REVIEW,
        reviewed_at=now,
        reviewed_by=admin_user,
        review_notes="looking",
        updated_at=now,
    )
    assert updated == 1
    assert QuarantineRecord.objects.get(pk=record.pk).review_status == RecordStatus.UNDER_REVIEW


@pytest.mark.django_db
def test_records_are_never_deleted(record):
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        QuarantineRecord.objects.filter(pk=record.pk).delete()
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM quarantine.quarantine_records")
    assert QuarantineRecord.objects.filter(pk=record.pk).exists()


@pytest.mark.django_db
def test_the_experiment_of_a_record_cannot_be_deleted(record):
    from experiments.models import Experiment

    with pytest.raises(Exception), transaction.atomic():  # ProtectedError (ORM) or the FK (SQL)
        Experiment.objects.filter(pk=record.experiment_id).delete()
    assert Experiment.objects.filter(pk=record.experiment_id).exists()


@pytest.mark.django_db
def test_triggers_are_plain_sql_in_the_schema():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger "
            "WHERE tgrelid = 'quarantine.quarantine_records'::regclass AND NOT tgisinternal"
        )
        names = {row[0] for row in cursor.fetchall()}
    assert names == {"quarantine_records_immutable", "quarantine_records_no_delete"}
