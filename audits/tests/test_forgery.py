"""What someone with full database access but without AUDIT_SIGNING_KEY tries, and what a
process started with the wrong key would do: every case is reported, none excused.

Tampering runs inside the test's transaction (rolled back), so the reused test
database's chain stays intact for the other tests."""

import importlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audits.keycheck import WrongSigningKey
from audits.models import AuditEntry, Verification
from audits.services import audit_record
from audits.verify import verify_chain

ZERO = "0" * 64
WRONG_KEY = "a wrong key, long enough to pass the start-up check"


def _tamper(sql, params=None):
    """Act as a database superuser who switches the triggers off for this transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.fixture
def five_entries(db, seal_in_transaction):
    ids = [audit_record(entity="forgery", action="step", payload={"n": n}) for n in range(5)]
    seal_in_transaction()
    assert verify_chain().ok
    return [AuditEntry.objects.get(id=i) for i in ids]


def _forge_marker(chain_seq, claimed_seq, claimed_signature, *, mac=ZERO, sig=ZERO):
    payload = {"partition": "audit_log_1999_01", "rows": 1, "runs": [[claimed_seq, claimed_seq, claimed_signature]]}
    _tamper(
        "INSERT INTO audits.audit_log (entity, action, payload, entry_hmac, chain_seq, prev_hash, signature) "
        "VALUES ('audit_log', 'partition_dropped', %s, %s, %s, %s, %s)",
        [json.dumps(payload), mac, chain_seq, ZERO, sig],
    )


@pytest.mark.parametrize("marker_seq", [-1, 0, None])
def test_a_forged_marker_does_not_excuse_a_deleted_entry(five_entries, marker_seq):
    """The reported attack: delete an entry mid-chain, then insert a partition_dropped
    row outside the chain (zero HMACs) claiming exactly that position."""
    victim, after = five_entries[2], five_entries[3]
    _tamper("DELETE FROM audits.audit_log WHERE id = %s", [victim.id])
    seq = marker_seq if marker_seq is not None else five_entries[-1].chain_seq + 1000  # beyond the head
    _forge_marker(seq, victim.chain_seq, victim.signature)
    result = verify_chain()
    assert not result.ok
    if marker_seq == -1:  # never walked: the gap itself is the first break
        assert result.first_broken.id == after.id
        assert f"{victim.chain_seq}..{victim.chain_seq}" in result.first_broken.reason
    reasons = [b["reason"] for b in result.as_dict()["also_broken"]] + [result.first_broken.reason]
    assert any("marker" in r or "outside the chain" in r for r in reasons), reasons


def test_the_command_names_the_missing_position_and_the_forged_marker(five_entries, capsys):
    victim = five_entries[1]
    _tamper("DELETE FROM audits.audit_log WHERE id = %s", [victim.id])
    _forge_marker(-1, victim.chain_seq, victim.signature)
    with pytest.raises(CommandError) as info:
        call_command("verify_audit_chain", "--no-seal", "--workers", "1")
    assert f"entries {victim.chain_seq}..{victim.chain_seq} of the chain are missing" in str(info.value)
    assert "outside the chain" in capsys.readouterr().err


def test_a_marker_with_a_made_up_signature_inside_the_chain_is_reported(five_entries):
    """A marker given a real position (the deleted entry's own) but no valid HMACs."""
    victim = five_entries[2]
    _tamper("DELETE FROM audits.audit_log WHERE id = %s", [victim.id])
    _forge_marker(victim.chain_seq, victim.chain_seq - 1, five_entries[1].signature, mac="1" * 64, sig="2" * 64)
    result = verify_chain()
    assert not result.ok
    assert any("does not verify" in b.reason for b in result.marker_problems)


def test_a_signed_marker_cannot_excuse_positions_after_its_own(five_entries, seal_in_transaction):
    """Even a marker written with the key explains only positions sealed before it."""
    head = five_entries[-1].chain_seq
    audit_record(entity="audit_log", action="partition_dropped", payload={"runs": [[head + 5, head + 5, ZERO]]})
    seal_in_transaction()
    result = verify_chain()
    assert not result.ok
    assert "at or after its own" in result.first_broken.reason


def test_a_copied_entry_outside_the_chain_is_reported(five_entries):
    original = five_entries[0]
    _tamper(
        "INSERT INTO audits.audit_log (ts, entity, action, payload, entry_hmac, chain_seq, prev_hash, signature) "
        "SELECT ts, entity, action, payload, entry_hmac, -7, prev_hash, signature FROM audits.audit_log WHERE id = %s",
        [original.id],
    )
    result = verify_chain()
    assert not result.ok and result.first_broken.chain_seq == -7
    assert "outside the chain" in result.first_broken.reason


# --- the wrong key --------------------------------------------------------------------------


def test_verification_with_the_wrong_key_says_so_and_writes_nothing(five_entries, settings):
    settings.AUDIT_SIGNING_KEY = WRONG_KEY
    with pytest.raises(WrongSigningKey):
        verify_chain()
    entries, runs = AuditEntry.objects.count(), Verification.objects.count()
    with pytest.raises(CommandError) as info:
        call_command("verify_audit_chain", "--workers", "1")
    assert "wrong AUDIT_SIGNING_KEY" in str(info.value) and "BROKEN" not in str(info.value)
    assert info.value.returncode == 3
    assert (AuditEntry.objects.count(), Verification.objects.count()) == (entries, runs)


def test_the_api_reports_the_wrong_key_without_recording_a_run(five_entries, settings, admin_client_api):
    settings.AUDIT_SIGNING_KEY = WRONG_KEY
    runs = Verification.objects.count()
    response = admin_client_api.get("/api/v1/audit-log/verify")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wrong_signing_key"
    assert Verification.objects.count() == runs


def test_the_sequencer_never_seals_under_a_key_the_chain_was_not_written_with(
    five_entries, settings, seal_in_transaction
):
    settings.AUDIT_SIGNING_KEY = WRONG_KEY
    entry_id = audit_record(entity="forgery", action="wrong-key", payload={})
    with pytest.raises(WrongSigningKey):
        seal_in_transaction()
    assert AuditEntry.objects.get(id=entry_id).chain_seq is None  # still pending, nothing lost
    settings.AUDIT_SIGNING_KEY = "test-only-audit-signing-key, at least 32 bytes"
    seal_in_transaction()  # the right key seals again; the wrong-key entry stays pending (forged)
    assert AuditEntry.objects.get(id=entry_id).chain_seq is None
    result = verify_chain()
    assert entry_id in result.pending_invalid


@pytest.mark.parametrize(
    ("command", "first_step"),
    [
        ("audit_seal", "chain_pending"),
        ("audit_checkpoint", "chain_pending"),
        ("audit_partitions", "partitions_maintain"),
    ],
)
def test_chain_commands_refused_for_the_wrong_key_end_with_its_message_not_a_traceback(
    db, monkeypatch, command, first_step
):
    # The sequencer's refusal of a key that does not match the chain (tested above),
    # raised by the first thing the command runs.
    module = importlib.import_module(f"audits.management.commands.{command}")

    def refuse(*args, **kwargs):
        raise WrongSigningKey()

    monkeypatch.setattr(module, first_step, refuse)
    with pytest.raises(CommandError) as info:
        call_command(command)
    assert "wrong AUDIT_SIGNING_KEY" in str(info.value) and info.value.returncode == 3


# --- entries sealed under a wrong key before the checks existed ------------------------------


@pytest.fixture
def poisoned(five_entries, settings, seal_in_transaction, monkeypatch):
    """Two entries sealed under a wrong key in the middle of the chain, as a process did
    before the sequencer checked its key; then more entries under the right key."""
    from audits import keycheck

    right = settings.AUDIT_SIGNING_KEY
    settings.AUDIT_SIGNING_KEY = WRONG_KEY
    with monkeypatch.context() as patch:
        patch.setattr(keycheck, "ensure_sealing_key", lambda cursor, key: None)
        wrong = [audit_record(entity="forgery", action="wrong-key", payload={"n": n}) for n in range(2)]
        seal_in_transaction()
    settings.AUDIT_SIGNING_KEY = right
    audit_record(entity="forgery", action="after", payload={})
    seal_in_transaction()
    return [AuditEntry.objects.get(id=i) for i in wrong]


def test_wrong_key_entries_are_reported_until_acknowledged(poisoned, seal_in_transaction, capsys):
    first, last = poisoned[0], poisoned[-1]
    result = verify_chain()
    assert not result.ok and result.first_broken.id == first.id
    call_command(
        "audit_acknowledge_wrong_key",
        "--first",
        str(first.chain_seq),
        "--last",
        str(last.chain_seq),
        "--reason",
        "sealed by a worker started without its environment, 2026-12-01",
    )
    seal_in_transaction()
    result = verify_chain()
    assert result.ok, result.as_dict()
    assert result.acknowledged == 2
    call_command("verify_audit_chain", "--no-seal", "--workers", "1")
    assert "2 entries sealed under a wrong key, acknowledged" in capsys.readouterr().out


def test_an_acknowledged_entry_edited_afterwards_is_reported(poisoned, seal_in_transaction):
    from audits.acknowledge import wrong_key_acknowledge

    wrong_key_acknowledge(first_seq=poisoned[0].chain_seq, last_seq=poisoned[-1].chain_seq, reason="checked")
    seal_in_transaction()
    assert verify_chain().ok
    _tamper("UPDATE audits.audit_log SET payload = '{\"n\": 7}' WHERE id = %s", [poisoned[1].id])
    result = verify_chain()
    assert not result.ok and result.first_broken.id == poisoned[1].id


def test_a_forged_acknowledgement_excuses_nothing(poisoned):
    entries = [[e.chain_seq, e.id, "0" * 64, e.signature] for e in poisoned]
    _tamper(
        "INSERT INTO audits.audit_log (entity, action, payload, entry_hmac, chain_seq, prev_hash, signature) "
        "VALUES ('audit_log', 'wrong_key_acknowledged', %s, %s, -3, %s, %s)",
        [json.dumps({"entries": entries, "reason": "x"}), ZERO, ZERO, ZERO],
    )
    result = verify_chain()
    assert not result.ok and result.acknowledged == 0
    assert result.first_broken.id == poisoned[0].id


def test_a_since_off_the_calendar_is_refused_by_name(db):
    with pytest.raises(CommandError, match="--since: Out of range"):
        call_command("verify_audit_chain", "--since", "9999-12-31T23:00:00-05:00", "--no-seal")


def test_the_console_names_the_wrong_key_and_records_nothing(five_entries, settings, make_user, client):
    from django.contrib.messages import get_messages
    from django.urls import reverse

    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    settings.AUDIT_SIGNING_KEY = WRONG_KEY
    runs = Verification.objects.count()
    response = client.post(reverse("admin:console_verify_chain"), {"since": ""}, follow=True)
    assert response.status_code == 200
    assert any("wrong AUDIT_SIGNING_KEY" in str(m) for m in get_messages(response.wsgi_request))
    assert Verification.objects.count() == runs
