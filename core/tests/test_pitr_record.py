"""The restore's audit entry (audit_restore_record) and the rule by which a checkpoint
exported before a restore reads as cut by it rather than as tampering. The whole path,
with a real restore, is in test_pitr_restore.py."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audits import chain, signing
from audits.models import AuditEntry
from audits.restores import restore_explains_cut, restore_record, restored_head


def _seal_here() -> None:
    """Seal inside the test's transaction, as the sequencer does after a commit."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.SEQUENCER_LOCK])
        while chain._seal_batch(chain.DEFAULT_BATCH):
            pass


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backup-label", " "], "must not be empty"),
        (["--backup-label", "20261207-120000F", "--target-time", "yesterday"], "not an ISO date"),
    ],
)
def test_the_command_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("audit_restore_record", *args)


def test_the_restore_entry_names_target_label_and_restored_head(db):
    _seal_here()
    head = restored_head()
    target = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    entry_id = restore_record(target_time=target, backup_label="20261207-120000F", head=head)
    entry = AuditEntry.objects.get(id=entry_id)
    assert (entry.entity, entry.action) == ("database", "restored")
    assert entry.payload["target_time"] == "2026-12-07T12:00:00Z"
    assert entry.payload["backup_label"] == "20261207-120000F"
    assert entry.payload["restored_head"]["chain_seq"] == head["chain_seq"]
    assert isinstance(entry.payload["restored_head"]["pending"], int)


def test_a_cut_is_explained_only_beyond_the_restored_head_and_before_the_restore(db):
    _seal_here()
    head = restored_head()
    restore_record(target_time=None, backup_label="20261207-120000F", head=head)
    _seal_here()
    before = signing.ts_text(datetime.now(UTC) - timedelta(minutes=1))
    after = signing.ts_text(datetime.now(UTC) + timedelta(minutes=1))
    with connection.cursor() as cursor:
        note = restore_explains_cut(cursor, {"chain_seq": head["chain_seq"] + 3, "exported_at": before})
        assert note and "cut by the restore" in note and "20261207-120000F" in note
        # Exported after the restore: the position should be there, so it is tampering.
        assert restore_explains_cut(cursor, {"chain_seq": head["chain_seq"] + 3, "exported_at": after}) is None
        # At or below the restored head: those entries came back, so a mismatch is tampering.
        assert restore_explains_cut(cursor, {"chain_seq": head["chain_seq"], "exported_at": before}) is None
