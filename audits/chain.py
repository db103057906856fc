"""The sequencer: seals committed audit entries into one hash chain, in batches.

Why not chain at write time? Linking each entry to the previous one at insert needs a
global lock held until the writer commits: every audited write in the system would queue
behind every other (measured here at ~500-900 appends/s). Instead, as in Certificate
Transparency logs (Trillian's sequencer), writers only *append* (an INSERT inside their
own transaction, no shared lock), and a sequencer later gives committed entries their
place in the chain:

    1. audit_record() appends the entry, with its entry_hmac, to audits.audit_pending, in
       the same transaction as the change it records: no change commits without its
       entry, and no entry survives a rolled-back change.
    2. After that transaction commits, the sequencer is woken (see AUDIT_SEALER below).
       It takes a transaction-scoped advisory lock with pg_try_advisory_xact_lock; if
       another process holds it, that process is sealing and will see this entry (3).
       The holder reads pending entries in id order, checks each entry_hmac, computes
       chain_seq = head + 1, ..., prev_hash and signature, and moves them into the log
       through audits.audit_seal(), a SECURITY DEFINER function (migration 0008): one
       INSERT of the sealed rows into their months' partitions, then the DELETE of the
       pending ones. The log itself is never updated; its rows are written once, sealed,
       and only by this move.
    3. After committing a batch the holder looks for pending entries again and loops. A
       sealer that failed to get the lock did so while the holder held it, i.e. after
       its entry was committed, so the holder's look after releasing sees that entry:
       nothing is left behind while writers keep writing. So a failed attempt is one
       probe statement (the lock taken and released in autocommit), and a sealer thread
       that found another process sealing leaves its own commits to that one for a few
       windows (BUSY_BACKOFF_WINDOWS) instead of trying again after each of them.

Why a table of its own for pending entries: sealing an entry in place was an UPDATE of
a row of the log, a second version of it through every index of the log (never a HOT
update: chain_seq is indexed), written into the pages the writers were filling. Moving
it is one narrow DELETE and the row's one and only insert into the log, made by one
process; writers touch only the pending table and its primary key.

AUDIT_SEALER chooses who runs step 2:
- "thread" (default): each process has one background sealer thread, woken by an event
  after every commit that wrote entries (the writer itself pays nothing), and every
  AUDIT_SEALER_IDLE_SECONDS when idle, which also picks up entries left by processes
  that died between commit and sealing.
- "inline": the writing thread seals right after its commit (tests, scripts).
- "off": nothing seals automatically; run `manage.py audit_seal --loop` as a sidecar.

An entry normally waits milliseconds; chain lag p99 is measured by `make bench`.
`verify_audit_chain` and `audit_seal` seal whatever is pending before they run. Entries
whose entry_hmac does not match (rows inserted by someone without the key) are never
sealed; they stay pending and verification reports them.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from audits import keycheck, signing
from core.db import bound
from core.locks import AdvisoryLock
from core.observability import metrics

logger = logging.getLogger("tristate.audit")

SEQUENCER_LOCK = AdvisoryLock.AUDIT_SEQUENCER
DEFAULT_BATCH = 5000
# How long a sealer thread that found another process sealing leaves its own commits to
# that process, in sealing windows (AUDIT_SEALER_WINDOW_SECONDS), at most the idle period.
BUSY_BACKOFF_WINDOWS = 10

# Pending entries this process found forged: skipped by later batches, so a few bad rows
# cannot make every seal re-check them.
_refused_ids: set[int] = set()


def chain_head(cursor) -> tuple[int, str]:
    """(chain_seq, signature) of the newest sealed entry, or (0, GENESIS), read from the
    log itself (verification and checkpoints; the sequencer reads its head row)."""
    cursor.execute(
        "SELECT chain_seq, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
    )
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, signing.GENESIS)


def _array_literal(values) -> str:
    """A PostgreSQL array literal of integers or hex digests (nothing to quote in either).
    psycopg adapts a list parameter element by element in Python, which cost the
    sequencer more than its HMACs; one text parameter is cast by the server instead."""
    return "{" + ",".join(map(str, values)) + "}"


# The pending entries in id order, each with the head as the sequencer left it
# (audits.audit_chain_head, migration 0005): one round trip, after the lock was taken.
# The timestamp is rendered as signing.TS_SQL renders it (what entry_hmac was made over).
_PENDING_WITH_HEAD = (
    f"SELECT p.id, {signing.TS_SQL}, p.entity::text, p.action::text, p.actor::text, "
    "p.payload::text, p.entry_hmac::text, h.chain_seq, h.signature "
    "FROM (SELECT * FROM audits.audit_pending WHERE id <> ALL (%s::bigint[]) ORDER BY id LIMIT %s) AS p "
    "LEFT JOIN audits.audit_chain_head AS h ON true ORDER BY p.id"
)

# A batch in one statement: its entries moved into the log (returning how many), the new
# head and the day's counts, in the sequencer's transaction.
_SEAL_BATCH = (
    "WITH seal AS (SELECT audits.audit_seal(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS sealed), "
    "head AS (SELECT audits.audit_log_seal_head(%s, %s)), "
    "counts AS (INSERT INTO audits.audit_daily_counts (day, entity, action, count) "
    "SELECT * FROM unnest(%s::date[], %s::text[], %s::text[], %s::bigint[]) "
    "ON CONFLICT (day, entity, action) DO UPDATE SET count = audit_daily_counts.count + EXCLUDED.count) "
    "SELECT (SELECT sealed FROM seal), (SELECT count(*) FROM head)"
)


def _seal_batch(batch_size: int) -> int:
    """Seal up to batch_size pending entries. The caller holds the sequencer lock. Two
    statements, each prepared once per connection: the pending entries with the head,
    then the batch's move into the log with the new head and the day's counts."""
    with bound.cursor() as cursor:
        cursor.execute(_PENDING_WITH_HEAD, [_array_literal(sorted(_refused_ids)), batch_size])
        rows = cursor.fetchall()
        if not rows:
            return 0
        key = signing.signing_key()
        keycheck.ensure_sealing_key(cursor, key)  # never seal under a key the chain was not written with
        seq, prev = (rows[0][7], rows[0][8]) if rows[0][7] is not None else chain_head(cursor)
        return _seal_rows(cursor, key, rows, seq, prev)


def _seal_rows(cursor, key: bytes, rows: list[tuple], seq: int, prev: str) -> int:
    sealed: list[tuple] = []
    counts: Counter = Counter()
    refused = 0
    for entry_id, ts, entity, action, actor, payload, mac, _, _ in rows:
        body = signing.content(entry_id, ts, entity, action, actor, payload)
        if signing.entry_hmac(key, body) != mac:
            refused += 1
            if len(_refused_ids) < 10_000:
                _refused_ids.add(entry_id)
            continue
        seq += 1
        signature = signing.link_signature(key, body, seq, prev)
        sealed.append((entry_id, seq, prev, signature))
        counts[(ts[0:10], entity, action)] += 1
        prev = signature
    if refused:
        logger.error(
            "audit sequencer: %d pending entries have a bad entry_hmac (not written with the signing key); "
            "they are not sealed and verification reports them",
            refused,
        )
    if not sealed:
        return 0
    columns = [_array_literal(column) for column in zip(*sealed, strict=True)]
    days, entities, actions, numbers = (list(col) for col in zip(*((*k, n) for k, n in counts.items()), strict=True))
    cursor.execute(_SEAL_BATCH, [*columns, seq, prev, days, entities, actions, numbers])
    moved, _ = cursor.fetchone()
    if moved != len(sealed):
        raise RuntimeError(f"audit sequencer moved {moved} of {len(sealed)} entries into the log")
    return len(sealed)


def _pending_exists() -> bool:
    return bound.fetch_one(
        "SELECT EXISTS (SELECT 1 FROM audits.audit_pending WHERE id <> ALL (%s::bigint[]))",
        [_array_literal(sorted(_refused_ids))],
    )[0]


def _try_sequencer_lock(cursor) -> bool:
    """Whether the sequencer lock could be taken (held to the end of the transaction, or
    of this one statement in autocommit: a probe that no other process is sealing)."""
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
    return cursor.fetchone()[0]


def _seal_committed(*, batch_size: int, wait: bool, linger: float) -> tuple[int, bool]:
    """chain_pending's work: (entries sealed, whether another process was sealing)."""
    if connection.in_atomic_block:
        raise RuntimeError("chain_pending() commits; call it outside transaction.atomic()")
    if not wait:
        # A probe before any transaction: when another process holds the lock it will
        # see this process's committed entries (3. above), and a failed attempt costs one
        # statement instead of a transaction of three.
        with connection.cursor() as cursor:
            if not _try_sequencer_lock(cursor):
                return 0, True
    sealed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SEQUENCER_LOCK])
            elif not _try_sequencer_lock(cursor):
                return sealed, True
            done = _seal_batch(batch_size)
        sealed += done
        if done:
            metrics.note_sealed(done)
        if done == batch_size:
            continue
        if linger and done:
            time.sleep(linger)
        if done == 0 or not _pending_exists():
            return sealed, False


def chain_pending(*, batch_size: int = DEFAULT_BATCH, wait: bool = False, linger: float = 0.0) -> int:
    """Seal every committed pending entry; returns how many this call sealed.

    Must run outside a transaction (it commits per batch). With wait=False it returns at
    once when another process is sealing; with wait=True it waits for the lock (used by
    commands that must see everything sealed before going on). With linger > 0 (the
    sealer thread), it pauses that long between batches while writers keep committing,
    so each batch seals many entries instead of a few.
    """
    sealed, _ = _seal_committed(batch_size=batch_size, wait=wait, linger=linger)
    return sealed


class _SealerThread:
    """One background sealer per process, woken after commits and periodically."""

    def __init__(self):
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = False
        self._halt = threading.Event()  # set by stop(): ends a pause at once

    def wake(self) -> None:
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                    self._start()
        self._event.set()

    def _start(self) -> None:
        self._stop = False
        self._event = threading.Event()
        self._halt = threading.Event()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def _run(self) -> None:
        idle = settings.AUDIT_SEALER_IDLE_SECONDS
        window = settings.AUDIT_SEALER_WINDOW_SECONDS
        # After finding another process sealing, this one lets its own commits go
        # unattended for a while: the other seals them as long as it runs (it looks for
        # pending entries after each batch), and an entry committed just as it stops waits
        # at most this long. Without it, every process tried after every commit.
        backoff = min(idle, BUSY_BACKOFF_WINDOWS * window)
        try:
            while not self._stop:
                self._event.wait(timeout=idle)
                if self._stop:
                    break
                # Group commit: let the commits of the next few milliseconds join this batch.
                time.sleep(window)
                self._event.clear()
                try:
                    close_old_connections()
                    _, busy = _seal_committed(batch_size=DEFAULT_BATCH, wait=False, linger=window)
                except Exception:  # entries stay pending; retry after a pause, not in a tight loop
                    logger.exception("audit sealer thread: sealing failed; will retry in %.0f s", idle)
                    connection.close()
                    self._halt.wait(idle)
                    continue
                if busy:
                    self._halt.wait(backoff)
        finally:
            connection.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (at exit, and in tests) after one last sealing pass."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return
        self._stop = True
        self._event.set()
        self._halt.set()
        thread.join(timeout)
        self._thread = None


sealer_thread = _SealerThread()


def _seal_inline() -> None:
    try:
        chain_pending()
    except Exception:  # the entry is committed; a later run seals it
        logger.exception("audit sequencer failed after commit; entries stay pending until the next run")


def _after_commit() -> None:
    mode = settings.AUDIT_SEALER
    if mode == "thread":
        sealer_thread.wake()
    elif mode == "inline":
        _seal_inline()


def schedule_after_commit(db=None) -> None:
    """Wake the sequencer once the current transaction commits (once per transaction).
    `db`: the default connection, when the caller has it at hand."""
    db = db or connection
    if not db.in_atomic_block:
        _after_commit()
        return
    if any(func is _after_commit for _, func, _ in db.run_on_commit):
        return
    db.on_commit(_after_commit)
