"""The database itself refuses every change to the log, and lets a pending entry leave
its table only into the log."""

import pytest
from django.db import DatabaseError, connection, transaction

from audits import partitions
from audits.models import AuditEntry, AuditLogRow
from audits.services import audit_record


def _refused(sql, params=None):
    with pytest.raises(DatabaseError) as info, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    assert "append-only" in str(info.value)


@pytest.fixture
def sealed_entry(db, seal_in_transaction):
    entry_id = audit_record(entity="thing", action="create", payload={"n": 1})
    seal_in_transaction()
    return AuditEntry.objects.get(id=entry_id)


def _current_partition():
    from django.utils import timezone

    return partitions.partition_name(timezone.now())


def test_orm_update_and_delete_are_refused(sealed_entry):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLogRow.objects.filter(id=sealed_entry.id).update(payload={"n": 2})
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLogRow.objects.filter(id=sealed_entry.id).delete()


@pytest.mark.parametrize("table", ["audits.audit_log", "partition"])
def test_raw_update_delete_truncate_are_refused_on_parent_and_partition(sealed_entry, table):
    table = f"audits.{_current_partition()}" if table == "partition" else table
    _refused(f"UPDATE {table} SET action = 'forged' WHERE id = %s", [sealed_entry.id])
    _refused(f"DELETE FROM {table} WHERE id = %s", [sealed_entry.id])
    _refused(f"TRUNCATE {table}")


def test_a_partition_created_later_is_protected_too(db):
    partitions.ensure_partition(partitions.month_start(__import__("datetime").date(2031, 7, 1)))
    _refused("TRUNCATE audits.audit_log_2031_07")


def test_resealing_a_sealed_entry_is_refused(sealed_entry):
    _refused(
        "UPDATE audits.audit_log SET chain_seq = chain_seq + 1000, signature = repeat('0', 64) WHERE id = %s",
        [sealed_entry.id],
    )


def test_a_pending_entry_is_never_changed_and_leaves_only_into_the_log(db):
    entry_id = audit_record(entity="thing", action="create", payload={"n": 1})
    _refused("""UPDATE audits.audit_pending SET payload = '{"n": 2}' WHERE id = %s""", [entry_id])
    _refused("DELETE FROM audits.audit_pending WHERE id = %s", [entry_id])
    _refused("TRUNCATE audits.audit_pending")
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM audits.audit_pending WHERE id = %s", [entry_id])
        assert cursor.fetchone()[0] == '{"n": 1}'


def test_sealing_moves_an_entry_into_the_log_unchanged(db, seal_in_transaction):
    entry_id = audit_record(entity="thing", action="create", payload={"n": 1})
    with connection.cursor() as cursor:
        cursor.execute("SELECT ts, entry_hmac FROM audits.audit_pending WHERE id = %s", [entry_id])
        pending = cursor.fetchone()
    seal_in_transaction()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audits.audit_pending WHERE id = %s", [entry_id])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT ts, entry_hmac, payload, chain_seq FROM audits.audit_log WHERE id = %s", [entry_id])
        ts, mac, payload, seq = cursor.fetchone()
    assert (ts, mac, payload) == (*pending, '{"n": 1}') and seq > 0
