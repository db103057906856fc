"""Verification split over worker processes finds exactly what one walk finds.

The workers walk ranges of chain positions on the parent's exported snapshot; the parent
checks the seams. These tests commit (the workers are other sessions), so every
tampering is undone before the test ends: the chain must stay whole for later tests."""

import contextlib

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audits import verify
from audits.chain import chain_pending
from audits.services import audit_record
from audits.verify import verify_chain

WORKERS = 3


@pytest.fixture
def sealed_chain(transactional_db, monkeypatch):
    """At least 60 committed, sealed entries; ranges of a few entries per worker."""
    for n in range(60):
        with transaction.atomic():
            audit_record(entity="parallel", action="walk", payload={"n": n})
    chain_pending(wait=True)
    monkeypatch.setattr(verify, "MIN_ENTRIES_PER_WORKER", 5)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(chain_seq) FROM audits.audit_log")
        head = cursor.fetchone()[0]
    # The positions verify_chain gives each worker first (0 .. head, WORKERS ranges).
    return [(head + 1) * i // WORKERS for i in range(WORKERS)], head


def _row_at(seq: int) -> dict:
    """The whole row, its payload as jsonb text (written back exactly as it was)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT *, payload::text AS payload FROM audits.audit_log WHERE chain_seq = %s", [seq])
        names = [c.name for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=False))


@contextlib.contextmanager
def _as_owner_without_triggers():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        yield cursor


@contextlib.contextmanager
def _edited(seq: int):
    row = _row_at(seq)
    with _as_owner_without_triggers() as cursor:
        cursor.execute(
            "UPDATE audits.audit_log SET payload = '{\"forged\": true}' WHERE id = %s AND ts = %s",
            [row["id"], row["ts"]],
        )
    try:
        yield row
    finally:
        with _as_owner_without_triggers() as cursor:
            cursor.execute(
                "UPDATE audits.audit_log SET payload = %s::jsonb WHERE id = %s AND ts = %s",
                [row["payload"], row["id"], row["ts"]],
            )


@contextlib.contextmanager
def _deleted(seq: int):
    row = _row_at(seq)
    with _as_owner_without_triggers() as cursor:
        cursor.execute("DELETE FROM audits.audit_log WHERE id = %s AND ts = %s", [row["id"], row["ts"]])
    try:
        yield row
    finally:
        names = list(row)
        with _as_owner_without_triggers() as cursor:
            cursor.execute(
                f"INSERT INTO audits.audit_log ({', '.join(names)}) "
                f"VALUES ({', '.join('%s::jsonb' if k == 'payload' else '%s' for k in names)})",
                list(row.values()),
            )


def _both_ways():
    single = verify_chain(workers=1)
    parallel = verify_chain(workers=WORKERS)
    return single, parallel


def test_parallel_walk_checks_every_entry_like_one_walk(sealed_chain):
    single, parallel = _both_ways()
    assert single.ok and parallel.ok, (single.as_dict(), parallel.as_dict())
    assert parallel.checked == single.checked >= 60
    assert parallel.head_seq == single.head_seq


@pytest.mark.parametrize("where", ["inside a range", "first of a range (a seam)", "last of a range"])
def test_an_edit_is_named_wherever_it_falls(sealed_chain, where):
    starts, _head = sealed_chain
    seq = {
        "inside a range": starts[1] + 2,
        "first of a range (a seam)": starts[1],
        "last of a range": starts[2] - 1,
    }[where]
    with _edited(seq) as row:
        single, parallel = _both_ways()
    assert not single.ok and not parallel.ok
    assert parallel.first_broken.as_dict() == single.first_broken.as_dict()
    assert parallel.first_broken.id == row["id"] and "edited" in parallel.first_broken.reason
    assert parallel.checked == single.checked
    assert verify_chain(workers=WORKERS).ok  # restored


@pytest.mark.parametrize("offset", [0, -1])
def test_a_deleted_entry_at_a_seam_is_found(sealed_chain, offset):
    """Deleting the first entry of a range, or the last of the one before, leaves a gap
    that only the seam check between the two workers can see."""
    starts, _head = sealed_chain
    with _deleted(starts[2] + offset):
        single, parallel = _both_ways()
    assert not parallel.ok
    assert parallel.first_broken.as_dict() == single.first_broken.as_dict()
    assert "missing" in parallel.first_broken.reason
    assert verify_chain(workers=WORKERS).ok


def test_the_command_verifies_with_workers(sealed_chain, capsys):
    call_command("verify_audit_chain", "--workers", str(WORKERS))
    assert "OK:" in capsys.readouterr().out
    starts, _head = sealed_chain
    with _edited(starts[1] + 1) as row, pytest.raises(CommandError) as info:
        call_command("verify_audit_chain", "--workers", str(WORKERS), "--no-seal")
    assert f"id={row['id']}" in str(info.value)


def test_workers_below_one_are_refused(transactional_db):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("verify_audit_chain", "--workers", "0")
