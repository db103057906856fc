"""audit_record: the one way in; what it refuses; what it stores."""

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from audits import partitions
from audits.models import AuditEntry
from audits.services import SecretInAuditPayload, audit_record
from audits.verify import verify_chain
from core.exceptions import ValidationFailed


@pytest.mark.django_db
def test_an_entry_is_written_in_the_callers_transaction_and_rolls_back_with_it():
    with transaction.atomic():
        kept = audit_record(entity="thing", action="create", payload={"n": 1})
    try:
        with transaction.atomic():
            dropped = audit_record(entity="thing", action="create", payload={"n": 2})
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert AuditEntry.objects.filter(id=kept).exists()
    assert not AuditEntry.objects.filter(id=dropped).exists()


@pytest.mark.django_db
def test_actor_and_payload_are_stored_normalized(regular_user):
    entry_id = audit_record(
        entity="thing",
        action="update",
        actor=regular_user,
        payload={"b": 1.0, "a": [1e20, 0.5], "when": datetime(2026, 1, 2, tzinfo=UTC)},
    )
    entry = AuditEntry.objects.get(id=entry_id)
    assert entry.actor == regular_user.pk
    assert entry.payload == {"a": [100000000000000000000, 0.5], "b": 1, "when": "2026-01-02T00:00:00Z"}
    assert len(entry.entry_hmac) == 64 and entry.chain_seq is None  # sealed after commit


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"password": "x"},
        {"user": {"refresh_token": "abc"}},
        {"api_key": "sk-1"},
        {"items": [{"totp_secret": "JBSW"}]},
        {"clientSecret": "x"},
        {"encrypted_api_key": "ENC4:..."},
    ],
)
def test_payloads_naming_secrets_are_refused(payload):
    with pytest.raises(SecretInAuditPayload):
        audit_record(entity="thing", action="update", payload=payload)


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [{"tokens_input": 5, "key_last_4_chars": "abcd", "kek_id": "k2"}])
def test_harmless_keys_that_look_alike_pass(payload):
    assert audit_record(entity="thing", action="update", payload=payload)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {"entity": "", "action": "x"},
        {"entity": "x" * 65, "action": "x"},
        {"entity": "x", "action": "x", "payload": ["not", "an", "object"]},
        {"entity": "x", "action": "x", "payload": {"v": float("nan")}},
        {"entity": "x", "action": "x", "payload": {"v": "nul\x00byte"}},
    ],
)
def test_bad_entries_are_refused(kwargs):
    with pytest.raises(ValidationFailed):
        audit_record(**kwargs)


@pytest.mark.django_db
def test_an_old_timestamp_gets_its_month_when_sealed(seal_in_transaction):
    """The entry is written whatever its month (it waits in audits.audit_pending); sealing
    creates the missing partition and puts it there."""
    assert "audit_log_2023_05" not in {p.name for p in partitions.list_partitions()}
    entry_id = audit_record(entity="legacy", action="import", payload={}, ts=datetime(2023, 5, 17, 8, 30, tzinfo=UTC))
    seal_in_transaction()
    assert "audit_log_2023_05" in {p.name for p in partitions.list_partitions()}
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM audits.audit_log WHERE id = %s", [entry_id])
        assert cursor.fetchone()[0].endswith("audit_log_2023_05")
    assert verify_chain().ok
