"""The chain: one line under concurrent writers, and every kind of tampering detected."""

import hashlib
import hmac
import json
import multiprocessing
import threading
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, connections, transaction

from audits import jsonb, signing
from audits.chain import chain_pending
from audits.models import AuditEntry
from audits.services import audit_record
from audits.verify import make_checkpoint, verify_chain


def _tamper(sql, params=None):
    """Act as a database owner who switches the triggers off for this transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.fixture
def five_entries(db, seal_in_transaction):
    ids = [audit_record(entity="tamper", action="step", payload={"n": n}) for n in range(5)]
    seal_in_transaction()
    assert verify_chain().ok
    return [AuditEntry.objects.get(id=i) for i in ids]


def test_edited_payload_is_named(five_entries):
    victim = five_entries[2]
    _tamper("UPDATE audits.audit_log SET payload = '{\"n\": 99}' WHERE id = %s", [victim.id])
    result = verify_chain()
    assert not result.ok
    assert result.first_broken.id == victim.id
    assert "edited" in result.first_broken.reason


def test_deleted_entry_is_detected_at_the_gap(five_entries):
    victim, after = five_entries[2], five_entries[3]
    _tamper("DELETE FROM audits.audit_log WHERE id = %s", [victim.id])
    result = verify_chain()
    assert not result.ok
    assert result.first_broken.id == after.id
    assert f"{victim.chain_seq}..{victim.chain_seq}" in result.first_broken.reason


def test_reordered_pair_is_detected(five_entries):
    a, b = five_entries[1], five_entries[2]
    _tamper(
        "UPDATE audits.audit_log SET chain_seq = CASE id WHEN %s THEN %s ELSE %s END WHERE id IN (%s, %s)",
        [a.id, b.chain_seq, a.chain_seq, a.id, b.id],
    )
    result = verify_chain()
    assert not result.ok
    assert result.first_broken.id in (a.id, b.id)


def test_tail_rechained_without_the_key_is_detected(five_entries):
    """Delete entry 2 and re-link the rest with a key the attacker made up."""
    fake_key = b"attacker-guess"
    _tamper("DELETE FROM audits.audit_log WHERE id = %s", [five_entries[2].id])
    prev, seq = five_entries[1].signature, five_entries[1].chain_seq
    for entry in five_entries[3:]:
        seq += 1
        body = signing.content(
            entry.id,
            signing.ts_text(entry.ts),
            entry.entity,
            entry.action,
            str(entry.actor) if entry.actor else None,
            jsonb.render(entry.payload),
        )
        sig = hmac.new(fake_key, b"link|%d|%s|" % (seq, prev.encode()) + body, hashlib.sha256).hexdigest()
        _tamper(
            "UPDATE audits.audit_log SET chain_seq = %s, prev_hash = %s, signature = %s WHERE id = %s",
            [seq, prev, sig, entry.id],
        )
        prev = sig
    result = verify_chain()
    assert not result.ok
    assert result.first_broken.id == five_entries[3].id
    assert "signature" in result.first_broken.reason


def test_cut_tail_is_detected_against_a_checkpoint(five_entries):
    checkpoint = make_checkpoint()
    assert checkpoint["chain_seq"] == five_entries[-1].chain_seq
    assert verify_chain(checkpoint=checkpoint).ok
    _tamper("DELETE FROM audits.audit_log WHERE id = ANY(%s)", [[e.id for e in five_entries[3:]]])
    assert verify_chain().ok  # without the checkpoint a clean cut is invisible: that is what it is for
    result = verify_chain(checkpoint=checkpoint)
    assert not result.ok and "cut" in result.first_broken.reason


def test_a_forged_checkpoint_is_refused(five_entries):
    checkpoint = {**make_checkpoint(), "chain_seq": 1}
    result = verify_chain(checkpoint=checkpoint)
    assert not result.ok and "not signed" in result.first_broken.reason


def test_rows_inserted_without_the_key_are_never_sealed(db, seal_in_transaction):
    _tamper(
        "INSERT INTO audits.audit_pending (id, ts, entity, action, payload, entry_hmac) "
        "VALUES (nextval('audits.audit_log_id_seq'), now(), 'user', 'grant_admin', '{}', %s)",
        ["f" * 64],
    )
    seal_in_transaction()
    forged = AuditEntry.objects.get(entity="user", action="grant_admin")
    assert forged.chain_seq is None
    result = verify_chain()
    assert not result.ok and forged.id in result.pending_invalid


def test_the_log_takes_no_row_without_its_chain_position(db):
    """Only sealing writes the log: a row without chain_seq/prev_hash/signature, which
    would sit there unsealed and unverified, is refused."""
    with pytest.raises(IntegrityError), transaction.atomic():
        _tamper(
            "INSERT INTO audits.audit_log (entity, action, payload, entry_hmac) "
            "VALUES ('user', 'grant_admin', '{}', %s)",
            ["f" * 64],
        )


def test_verify_command_reports_ok_and_broken(five_entries, capsys):
    call_command("verify_audit_chain", "--no-seal")
    assert "OK:" in capsys.readouterr().out
    _tamper("UPDATE audits.audit_log SET action = 'forged' WHERE id = %s", [five_entries[0].id])
    with pytest.raises(CommandError) as info:
        call_command("verify_audit_chain", "--no-seal")
    assert f"id={five_entries[0].id}" in str(info.value)


def test_the_command_walks_without_the_statement_timeout_requests_keep(five_entries, monkeypatch):
    """The walk is one COPY: under a web request's statement timeout a log of millions
    would be cancelled half-way, so the command (and only it) lifts the timeout."""
    from audits import verify

    seen = []
    stream = verify._stream_chain

    def spy(cursor, start_seq):
        cursor.execute("SHOW statement_timeout")
        seen.append(cursor.fetchone()[0])
        yield from stream(cursor, start_seq)

    monkeypatch.setattr(verify, "_stream_chain", spy)
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '20s'")  # undone with the test's transaction
    assert verify_chain().ok
    call_command("verify_audit_chain", "--no-seal")
    assert seen == ["20s", "0"]


def _append_many(worker: int, count: int, tag: str) -> None:
    connections.close_all()
    for n in range(count):
        with transaction.atomic():
            audit_record(entity="race", action=tag, payload={"worker": worker, "n": n})
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_eight_processes_appending_keep_one_linear_chain():
    tag = f"run-{datetime.now(UTC).timestamp()}"
    connections.close_all()  # children must not share the parent's socket
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(w, 200, tag)) for w in range(8)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
        assert p.exitcode == 0
    chain_pending(wait=True)
    rows = list(AuditEntry.objects.filter(entity="race", action=tag).values_list("chain_seq", "prev_hash"))
    assert len(rows) == 1600
    assert all(seq is not None for seq, _ in rows)
    assert len({prev for _, prev in rows}) == 1600  # no fork: no two entries share a predecessor
    result = verify_chain()
    assert result.ok, result.as_dict()
    assert result.pending == 0


@pytest.mark.django_db(transaction=True)
def test_two_writers_racing_into_a_new_month_both_succeed(unused_old_month):
    month_ts = datetime(unused_old_month.year, unused_old_month.month, 14, 12, 0, tzinfo=UTC)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def write(n):
        try:
            barrier.wait(5)
            with transaction.atomic():
                audit_record(entity="race", action="new-month", payload={"n": n}, ts=month_ts)
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert AuditEntry.objects.filter(entity="race", action="new-month", ts=month_ts).count() == 2
    chain_pending(wait=True)
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_checkpoint_command_round_trip(tmp_path, capsys):
    with transaction.atomic():
        audit_record(entity="ckpt", action="x", payload={})
    out = tmp_path / "head.json"
    call_command("audit_checkpoint", "--out", str(out))
    doc = json.loads(out.read_text())
    assert set(doc) == {"chain_seq", "id", "ts", "signature", "exported_at", "mac"}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    call_command("verify_audit_chain", "--checkpoint", str(out))
    assert "OK:" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_background_sealer_thread_seals_after_commit(settings):
    import time

    from audits.chain import sealer_thread

    settings.AUDIT_SEALER = "thread"
    settings.AUDIT_SEALER_WINDOW_SECONDS = 0.01
    try:
        with transaction.atomic():
            ids = [audit_record(entity="sealer", action="thread", payload={"n": n}) for n in range(20)]
        deadline = time.monotonic() + 10
        while AuditEntry.objects.filter(id__in=ids, chain_seq__isnull=True).exists():
            assert time.monotonic() < deadline, "the sealer thread did not seal within 10 s"
            time.sleep(0.02)
    finally:
        sealer_thread.stop()
    assert verify_chain().ok


def test_the_pending_queue_renders_timestamps_as_the_signatures_do(db):
    """The sequencer's read of pending entries must print ts exactly as the entry_hmac
    was computed over (signing.ts_text), or no entry would ever match it."""
    from audits.chain import _PENDING_WITH_HEAD

    moments = [
        datetime(2023, 5, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 21, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 2, 28, 12, 30, 5, 120, tzinfo=UTC),
    ]
    ids = [audit_record(entity="queue", action="ts", payload={}, ts=moment) for moment in moments]
    with connection.cursor() as cursor:
        cursor.execute(_PENDING_WITH_HEAD, ["{}", 100000])
        queued = {row[0]: row[1] for row in cursor.fetchall() if row[0] in ids}
    assert queued == {i: signing.ts_text(m) for i, m in zip(ids, moments, strict=True)}


@pytest.mark.django_db(transaction=True)
def test_a_sealer_finding_another_sealing_gives_up_in_one_statement_and_the_other_seals_its_entries(settings):
    """While another process holds the sequencer lock, a sealing attempt is one probe
    statement (no transaction opened), and the holder, looking for pending entries after
    its batch, seals the entries committed before that attempt."""
    import psycopg
    from django.test.utils import CaptureQueriesContext

    from audits import chain

    settings.AUDIT_SEALER = "off"
    with transaction.atomic():
        entry = audit_record(entity="sealer", action="probe", payload={"n": 1})
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k not in ("cursor_factory", "context", "prepare_threshold")}
    )
    try:
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock(%s)", [chain.SEQUENCER_LOCK])
        with CaptureQueriesContext(connection) as queries:
            assert chain.chain_pending() == 0
        assert [q["sql"] for q in queries.captured_queries] == [
            f"SELECT pg_try_advisory_xact_lock({chain.SEQUENCER_LOCK})"
        ]
        assert AuditEntry.objects.get(id=entry).chain_seq is None
    finally:
        other.rollback()  # the holder is done; what it would have sealed is sealed next
        other.close()
    assert chain.chain_pending() >= 1
    assert AuditEntry.objects.get(id=entry).chain_seq is not None
    assert verify_chain().ok


def test_a_sealer_thread_that_finds_another_sealing_waits_before_trying_again(monkeypatch, settings):
    """The thread backs off (BUSY_BACKOFF_WINDOWS windows, at most the idle period) after
    a busy attempt, instead of trying again after each of its process's commits."""
    from audits import chain

    settings.AUDIT_SEALER_WINDOW_SECONDS = 0.001
    settings.AUDIT_SEALER_IDLE_SECONDS = 30.0
    attempts: list[float] = []
    pauses: list[float] = []

    def busy(**kwargs):
        attempts.append(kwargs["linger"])
        return 0, True

    thread = chain._SealerThread()
    monkeypatch.setattr(chain, "_seal_committed", busy)
    monkeypatch.setattr(chain, "close_old_connections", lambda: None)
    original_wait = threading.Event.wait

    def recording_wait(self, timeout=None):
        if self is thread._halt:
            pauses.append(timeout)
            thread._stop = True  # one round is enough
            return True
        return original_wait(self, timeout)

    monkeypatch.setattr(threading.Event, "wait", recording_wait)
    thread.wake()
    thread._thread.join(5)
    assert attempts == [0.001]
    assert pauses == [pytest.approx(chain.BUSY_BACKOFF_WINDOWS * 0.001)]
