"""The sequencer: seals committed audit entries into one hash chain, in batches.

Why not chain at write time? Linking each entry to the previous one at insert needs a
global lock held until the writer commits: every audited write in the system would queue
behind every other (measured here at ~500 appends/s). Instead, as in Certificate
Transparency logs (Trillian's sequencer), writers only *append* (an INSERT inside their
own transaction, no shared lock), and a sequencer later gives committed entries their
place in the chain:

    1. audit_record() inserts the entry with its entry_hmac, chain_seq NULL: same
       transaction as the change it records, so no change commits without its entry
       and no entry survives a rolled-back change.
    2. After that transaction commits, chain_pending() runs (transaction.on_commit). It
       takes a transaction-scoped advisory lock with pg_try_advisory_xact_lock: if
       another process holds it, that process is sealing and will see this entry (see
       below), so the writer returns at once. The holder reads pending entries
       (ORDER BY id), checks each entry_hmac, computes chain_seq = head + 1 ...,
       prev_hash and signature, and seals them with one UPDATE per partition.
    3. After committing a batch the holder looks again for pending entries and loops.
       A writer that failed to get the lock did so while the holder held it, i.e.
       after the writer committed, so the holder's look after releasing sees it: no
       entry is left behind while writers keep writing.

If a process dies between commit and sealing, its entries stay pending until the next
chain_pending() call anywhere (every later audited write triggers one; `manage.py
audit_seal` runs it in a loop; `verify_audit_chain` runs it first). An entry waits for
as long as one batch takes (well under a second) under load.

Entries whose entry_hmac does not match (rows inserted by someone without the key) are
never sealed into the chain; they stay pending and verification reports them.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

from django.db import connection, transaction

from audits import signing
from audits.partitions import partition_name

logger = logging.getLogger("tristate.audit")

SEQUENCER_LOCK = 7301002
DEFAULT_BATCH = 2000

# Pending entries this process found forged: skipped by later batches, so a few bad rows
# cannot make every audited write re-check them.
_refused_ids: set[int] = set()


def chain_head(cursor) -> tuple[int, str]:
    """(chain_seq, signature) of the newest sealed entry, or (0, GENESIS)."""
    cursor.execute(
        "SELECT chain_seq, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
    )
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, signing.GENESIS)


def _seal_batch(cursor, batch_size: int) -> int:
    """Seal up to batch_size pending entries. Caller holds the sequencer lock."""
    cursor.execute(
        "SELECT id, ts, entity, action, actor, payload, entry_hmac FROM audits.audit_log "
        "WHERE chain_seq IS NULL AND id <> ALL(%s) ORDER BY id LIMIT %s",
        [sorted(_refused_ids), batch_size],
    )
    rows = cursor.fetchall()
    if not rows:
        return 0
    key = signing.signing_key()
    seq, prev = chain_head(cursor)
    per_partition: dict[str, list[tuple]] = defaultdict(list)
    counts: Counter = Counter()
    refused = 0
    for entry_id, ts, entity, action, actor, payload, mac in rows:
        body = signing.content(entry_id, ts, entity, action, actor, signing.payload_value(payload))
        if signing.entry_hmac(key, body) != mac:
            refused += 1
            if len(_refused_ids) < 10_000:
                _refused_ids.add(entry_id)
            continue
        seq += 1
        signature = signing.link_signature(key, body, seq, prev)
        per_partition[partition_name(ts)].append((entry_id, seq, prev, signature))
        counts[(ts.date(), entity, action)] += 1
        prev = signature
    if refused:
        logger.error(
            "audit sequencer: %d pending entries have a bad entry_hmac (not written with the signing key); "
            "they are not sealed and verification reports them",
            refused,
        )
    for part, items in per_partition.items():
        ids, seqs, prevs, sigs = (list(col) for col in zip(*items, strict=True))
        cursor.execute(
            f"UPDATE audits.{part} AS a SET chain_seq = v.seq, prev_hash = v.prev, signature = v.sig "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS v(id, seq, prev, sig) "
            "WHERE a.id = v.id AND a.chain_seq IS NULL",
            [ids, seqs, prevs, sigs],
        )
        if cursor.rowcount != len(items):
            raise RuntimeError(f"audit sequencer sealed {cursor.rowcount} of {len(items)} entries in {part}")
    if counts:
        days, entities, actions, numbers = (
            list(col) for col in zip(*((*k, n) for k, n in counts.items()), strict=True)
        )
        cursor.execute(
            "INSERT INTO audits.audit_daily_counts (day, entity, action, count) "
            "SELECT * FROM unnest(%s::date[], %s::text[], %s::text[], %s::bigint[]) "
            "ON CONFLICT (day, entity, action) DO UPDATE SET count = audit_daily_counts.count + EXCLUDED.count",
            [days, entities, actions, numbers],
        )
    return len(rows) - refused


def _pending_exists(cursor) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM audits.audit_log WHERE chain_seq IS NULL AND id <> ALL(%s))",
        [sorted(_refused_ids)],
    )
    return cursor.fetchone()[0]


def chain_pending(*, batch_size: int = DEFAULT_BATCH, wait: bool = False) -> int:
    """Seal every committed pending entry; returns how many this call sealed.

    Must run outside a transaction (it commits per batch). With wait=False it returns at
    once when another process is sealing; with wait=True it waits for the lock (used by
    commands that must see everything sealed before going on).
    """
    if connection.in_atomic_block:
        raise RuntimeError("chain_pending() commits; call it outside transaction.atomic()")
    sealed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
            else:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
                if not cursor.fetchone()[0]:
                    return sealed
            done = _seal_batch(cursor, batch_size)
        sealed += done
        if done == batch_size:
            continue
        with connection.cursor() as cursor:
            if done == 0 or not _pending_exists(cursor):
                return sealed


def _after_commit() -> None:
    try:
        chain_pending()
    except Exception:  # the entry is committed; a later call seals it
        logger.exception("audit sequencer failed after commit; entries stay pending until the next run")


def schedule_after_commit() -> None:
    """Run the sequencer once after the current transaction commits (once per transaction)."""
    if not connection.in_atomic_block:
        _after_commit()
        return
    if any(func is _after_commit for _, func, _ in connection.run_on_commit):
        return
    transaction.on_commit(_after_commit)
