"""Chain verification: recompute every entry's HMACs and links, report the first break.

Streams the chain in chain_seq order through a server-side cursor (bounded memory).
Detects an edited entry (entry_hmac or signature no longer matches), a deleted or
re-ordered entry (chain_seq gap or prev_hash mismatch), a tail re-chained without the key
(signatures do not verify), a row placed outside the chain, and, given a checkpoint
exported earlier, a cut tail (the checkpointed entry is missing or different). Gaps left
by retention are accepted only where `partition_dropped` markers that are themselves
sealed entries verifying under the key, placed after the positions they claim, account
for exactly those positions. A key under which no sealed entry verifies is reported as
the wrong key (keycheck.WrongSigningKey), never as tampering. Threat model: docs/audit.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from audits import signing
from audits.acknowledge import acknowledged_entries, content_digest
from audits.chain import chain_head
from audits.excuses import (  # noqa: F401  DROPPED_*: re-exported for audits.upkeep
    DROPPED_ACTION,
    DROPPED_ENTITY,
    Break,
    as_ts,
    dropped_runs,
    explained_gap,
    outside_the_chain,
)
from audits.keycheck import WrongSigningKey, key_matches_chain
from audits.restores import restore_explains_cut
from core.db.raw import plain_connection_params

EDITED = "entry content does not match its entry_hmac (edited)"
UNSIGNED = "signature does not verify (re-chained or edited)"
# Below this many entries per worker, starting processes costs more than it saves.
MIN_ENTRIES_PER_WORKER = 50_000


def default_workers() -> int:
    """The command's default number of worker processes: one per CPU, at most 8."""
    return min(os.cpu_count() or 1, 8)


@dataclass
class VerifyResult:
    checked: int = 0
    first_broken: Break | None = None
    pending: int = 0
    pending_invalid: list[int] = field(default_factory=list)
    head_seq: int = 0
    head_signature: str = signing.GENESIS
    # Markers (and rows) verification refused to trust: reported even when the walk
    # itself found its first break elsewhere (often the gap a forged marker meant to hide).
    marker_problems: list[Break] = field(default_factory=list)
    # Entries accepted because an acknowledgement signed with the key names them
    # (sealed under a wrong key; audits.acknowledge).
    acknowledged: int = 0
    # Set when a checkpoint's position was cut by a recorded restore (audits.restores).
    restore_note: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None and not self.pending_invalid and not self.marker_problems

    def as_dict(self) -> dict:
        broken = self.first_broken.as_dict() if self.first_broken else None
        if broken is None and self.pending_invalid:
            broken = {
                "id": self.pending_invalid[0],
                "ts": None,
                "chain_seq": None,
                "reason": "entry written without the signing key (entry_hmac mismatch)",
                "expected": None,
                "found": None,
            }
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken": broken,
            "pending": self.pending,
            "head": {"chain_seq": self.head_seq, "signature": self.head_signature},
            "acknowledged_wrong_key": self.acknowledged,
            "also_broken": [b.as_dict() for b in self.marker_problems if b is not self.first_broken],
        } | ({"restore_note": self.restore_note} if self.restore_note else {})


def _check_pending(cursor, result: VerifyResult, key: bytes) -> None:
    cursor.execute(
        f"SELECT id, {signing.TS_SQL}, entity, action, actor::text, payload::text, entry_hmac "
        "FROM audits.audit_pending ORDER BY id"
    )
    for entry_id, ts, entity, action, actor, payload, mac in cursor.fetchall():
        result.pending += 1
        if signing.entry_hmac(key, signing.content(entry_id, ts, entity, action, actor, payload)) != mac:
            result.pending_invalid.append(entry_id)


@dataclass
class _Segment:
    """What walking one run of chain positions found; the parent checks the seams."""

    checked: int = 0
    first: tuple | None = None  # (seq, prev_hash, id, ts text) of its first entry
    last: tuple[int, str] | None = None  # (seq, signature) of its last good entry
    broken: Break | None = None
    acknowledged: int = 0  # entries accepted as acknowledged wrong-key entries


def _copy_sql(lo: int, hi: int | None) -> str:
    upper = f" AND chain_seq < {int(hi)}" if hi is not None else ""
    return (
        f"COPY (SELECT chain_seq, id, {signing.TS_SQL}, entity, action, actor, payload::text, entry_hmac, "
        f"prev_hash, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL AND chain_seq >= {int(lo)}{upper} "
        "ORDER BY chain_seq) TO STDOUT"
    )


def _copy_blocks(pg_cursor, sql: str):
    """A COPY TO STDOUT's data in blocks. Closing the generator before the end (the walk
    stops at a break) cancels the COPY, so the connection is usable again."""
    with pg_cursor.copy(sql) as copy:
        yield from copy


def _stream_chain(cursor, start_seq: int):
    """The COPY text of the sealed entries from start_seq on, in chain order, in blocks."""
    return _copy_blocks(cursor.cursor, _copy_sql(start_seq, None))


def _link_problem(runs, last_seq: int, last_sig: str, seq: int, prev_hash: str):
    """What is wrong between two consecutive sealed entries, as (reason, expected, found)."""
    if seq != last_seq + 1:
        if seq == last_seq:
            return "two entries share one chain position", None, None
        if not explained_gap(runs, last_seq, seq, prev_hash):
            return f"entries {last_seq + 1}..{seq - 1} of the chain are missing (deleted)", str(last_seq + 1), str(seq)
        return None
    if prev_hash != last_sig:
        return "prev_hash does not match the previous entry's signature", last_sig, prev_hash
    return None


def _acknowledged_or_problem(ack, problem, entry_id, body, sig, seq, prev_hash, last_seq, last_sig_b, runs):
    """None when this very row (id, content, signature) was acknowledged as sealed under a
    wrong key and its link to the entry before holds; else the problem to report."""
    acked_id, digest, signature = ack
    if (acked_id, digest, signature) != (entry_id, content_digest(body), sig.decode()):
        return problem
    if last_seq is not None and (seq != last_seq + 1 or prev_hash != last_sig_b):
        return _link_problem(runs, last_seq, last_sig_b.decode(), seq, prev_hash.decode())
    return None


def _walk(blocks, key: bytes, runs, last_seq: int | None, last_sig: str | None, tick=None, acked=None) -> _Segment:
    """Check the COPY text of consecutive sealed entries. last_seq/last_sig: the entry
    before the first one (None: its link is checked by the caller, at a seam).

    The hot loop of verification: bytes all the way (the fields are hashed as PostgreSQL
    prints them, so nothing is decoded but what a report needs), the two HMACs computed
    inline from the key's prepared hash states (measured: calling
    _PreparedKey.hexdigest instead makes the walk 20-30 % slower)."""
    pads = signing.prepared_key(key)
    inner, outer = pads.inner, pads.outer
    segment = _Segment()
    checked = 0
    last_sig_b = last_sig.encode("ascii") if last_sig is not None else None
    tail = b""
    for block in blocks:
        lines = (tail + bytes(block)).split(b"\n")
        tail = lines.pop()
        for line in lines:
            seq_b, id_b, ts, entity, action, actor, payload, mac, prev_hash, sig = line.split(b"\t")
            if b"\\" in payload:
                payload = payload.replace(b"\\\\", b"\\")  # COPY doubles backslashes
            body = b"|".join((id_b, ts, entity, action, b"" if actor == b"\\N" else actor, payload))
            seq = int(seq_b)
            if segment.first is None:
                segment.first = (seq, prev_hash.decode(), int(id_b), ts.decode())
            h = inner.copy()
            h.update(b"entry|" + body)
            o = outer.copy()
            o.update(h.digest())
            problem: tuple[str, str | None, str | None] | None = None
            if o.hexdigest().encode() != mac:
                problem = EDITED, None, None
            elif last_seq is not None and last_sig_b is not None and (seq != last_seq + 1 or prev_hash != last_sig_b):
                problem = _link_problem(runs, last_seq, last_sig_b.decode(), seq, prev_hash.decode())
            if problem is None:
                h = inner.copy()
                h.update(b"link|%d|%s|" % (seq, prev_hash) + body)
                o = outer.copy()
                o.update(h.digest())
                if o.hexdigest().encode() != sig:
                    problem = UNSIGNED, None, sig.decode()
            if problem is not None and acked and seq in acked and problem[0] in (EDITED, UNSIGNED):
                problem = _acknowledged_or_problem(
                    acked[seq], problem, int(id_b), body, sig, seq, prev_hash, last_seq, last_sig_b, runs
                )
                if problem is None:
                    segment.acknowledged += 1
            if problem is not None:
                reason, expected, found = problem
                segment.broken = Break(int(id_b), as_ts(ts.decode()), seq, reason, expected=expected, found=found)
                segment.checked = checked
                return segment
            checked += 1
            last_seq, last_sig_b = seq, sig
            if tick is not None and checked % 10_000 == 0:
                tick(10_000)
    if tail:
        raise RuntimeError("the chain's COPY stream ended inside a row")
    segment.checked = checked
    if last_seq is not None and last_sig_b is not None:
        segment.last = (last_seq, last_sig_b.decode())
    return segment


def _worker(index, conn_params, snapshot, lo, hi, key, runs, acked, results, counters) -> None:
    """One worker process: its own connection on the parent's snapshot, one range."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(**conn_params, autocommit=True) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            conn.execute("SET LOCAL statement_timeout = 0")

            def tick(n: int) -> None:
                counters[index] += n

            blocks = _copy_blocks(conn.cursor(), _copy_sql(lo, hi))
            try:
                segment = _walk(blocks, key, runs, None, None, tick, acked)
            finally:
                blocks.close()
            conn.execute("COMMIT")
        results.put((index, segment, None))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put((index, None, f"{type(exc).__name__}: {exc}"))


def _walk_parallel(cursor, key, runs, acked, bounds: list[int], progress) -> list[_Segment]:
    """Walk [bounds[i], bounds[i+1]) in one worker process each, all on this
    transaction's snapshot (exported, so every worker sees exactly what the parent sees)."""
    import multiprocessing
    import queue

    cursor.execute("SELECT pg_export_snapshot()")
    snapshot = cursor.fetchone()[0]
    # fork: workers start at once and inherit the loaded code; they use only their own
    # connection (never the inherited one) and exit without running finalizers.
    ctx = multiprocessing.get_context("fork")
    n = len(bounds) - 1
    results = ctx.Queue()
    counters = ctx.Array("q", n, lock=False)  # each worker writes only its own slot
    params = plain_connection_params(connection)
    procs = [
        ctx.Process(
            target=_worker,
            args=(i, params, snapshot, bounds[i], bounds[i + 1], key, runs, acked, results, counters),
            daemon=True,
        )
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    segments: list[_Segment | None] = [None] * n
    reported = 0
    try:
        received = 0
        while received < n:
            try:
                index, segment, error = results.get(timeout=0.5)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a verification worker died") from None
            else:
                if error is not None:
                    raise RuntimeError(f"verification worker {index}: {error}")
                segments[index] = segment
                received += 1
            if progress is not None:
                done = sum(counters)
                if done > reported:
                    progress(done - reported)
                    reported = done
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    done_segments = [segment for segment in segments if segment is not None]
    if len(done_segments) != n:
        raise RuntimeError("a verification worker returned nothing")
    return done_segments


def _join_segments(
    segments: list[_Segment], runs, last_seq: int | None, last_sig: str | None
) -> tuple[int, Break | None]:
    """Check each seam (the last entry of one run against the first of the next) and
    return (entries checked before the first break, the first break)."""
    checked = 0
    for segment in segments:
        # An edited first entry is reported as edited, as a single walk would.
        edited_first = segment.broken is not None and segment.checked == 0 and segment.broken.reason == EDITED
        if segment.first is not None and last_seq is not None and last_sig is not None and not edited_first:
            seq, prev_hash, entry_id, ts = segment.first
            problem = _link_problem(runs, last_seq, last_sig, seq, prev_hash)
            if problem is not None:
                reason, expected, found = problem
                return checked, Break(entry_id, as_ts(ts), seq, reason, expected=expected, found=found)
        checked += segment.checked
        if segment.broken is not None:
            return checked, segment.broken
        if segment.last is not None:
            last_seq, last_sig = segment.last
    return checked, None


def verify_chain(
    *,
    since: datetime | None = None,
    checkpoint: dict | None = None,
    progress=None,
    unbounded: bool = False,
    workers: int = 1,
) -> VerifyResult:
    """Walk the chain (from `since`'s first entry, or from the start) and report the
    first broken link. The walk is one COPY statement, so the connection's statement
    timeout bounds it: right for a web request (a too-long walk answers 503), wrong for
    the operator's command and the nightly job on a log of millions of entries, which
    pass `unbounded=True` to lift it for this transaction only.

    workers > 1 (the command, outside any transaction) splits the chain positions into
    that many ranges walked by worker processes on one exported snapshot; the seams
    between ranges are checked here, so the result is the one a single walk gives."""
    key = signing.signing_key()
    result = VerifyResult()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # One snapshot for the whole walk, so entries sealed meanwhile do not shift it.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if unbounded:
            cursor.execute("SET LOCAL statement_timeout = 0")
        if not key_matches_chain(cursor, key, oldest_too=True):
            raise WrongSigningKey()
        result.head_seq, result.head_signature = chain_head(cursor)
        runs, result.marker_problems = dropped_runs(cursor, key, result.head_seq)
        acked, ack_problems = acknowledged_entries(
            cursor, key, result.head_seq, lambda i, ts, seq, reason: Break(i, as_ts(ts), seq, reason)
        )
        result.marker_problems.extend(ack_problems)
        outside = outside_the_chain(cursor)
        if outside is not None:
            result.marker_problems.insert(0, outside)
        start_seq = 0
        if since is not None:
            cursor.execute(
                "SELECT min(chain_seq) FROM audits.audit_log WHERE ts >= %s AND chain_seq IS NOT NULL", [since]
            )
            start_seq = cursor.fetchone()[0] or 0
            if not start_seq:
                _check_pending(cursor, result, key)
                return result
        _check_pending(cursor, result, key)
        last_seq, last_sig = (None, None) if since is not None else (0, signing.GENESIS)
        span = result.head_seq - start_seq + 1
        if outermost and workers > 1 and span >= 2 * MIN_ENTRIES_PER_WORKER:
            n = min(workers, span // MIN_ENTRIES_PER_WORKER)
            bounds = [start_seq + span * i // n for i in range(n)] + [result.head_seq + 1]
            segments = _walk_parallel(cursor, key, runs, acked, bounds, progress)
            result.checked, result.first_broken = _join_segments(segments, runs, last_seq, last_sig)
            result.acknowledged = sum(s.acknowledged for s in segments)
        else:
            blocks = _stream_chain(cursor, start_seq)
            try:
                segment = _walk(blocks, key, runs, last_seq, last_sig, progress, acked)
                if not outermost:
                    # Inside a caller's transaction, read the rest instead of cancelling the
                    # COPY: a cancelled statement would abort the caller's transaction.
                    for _block in blocks:
                        pass
            finally:
                blocks.close()
            result.checked, result.first_broken = segment.checked, segment.broken
            result.acknowledged = segment.acknowledged
        if result.first_broken is None and checkpoint is not None:
            result.first_broken = _check_against_checkpoint(cursor, checkpoint, key)
            _explain_by_restore(cursor, checkpoint, result)
        if result.first_broken is None and result.marker_problems:
            result.first_broken = result.marker_problems[0]
    return result


def _explain_by_restore(cursor, checkpoint: dict, result: VerifyResult) -> None:
    """A checkpoint position missing or different after a point-in-time restore is a cut
    the restore's signed entry accounts for, not tampering (docs/audit.md)."""
    if result.first_broken is None or result.first_broken.chain_seq is None:
        return  # verified, or the checkpoint itself is not signed with this key
    note = restore_explains_cut(cursor, checkpoint)
    if note is not None:
        result.first_broken, result.restore_note = None, note


def _check_against_checkpoint(cursor, checkpoint: dict, key: bytes) -> Break | None:
    doc = {k: v for k, v in checkpoint.items() if k != "mac"}
    if signing.sign_document(key, doc) != checkpoint.get("mac"):
        return Break(None, None, None, "the checkpoint file is not signed with this AUDIT_SIGNING_KEY")
    seq = int(doc["chain_seq"])
    if seq == 0:
        return None  # checkpoint of an empty chain: nothing can have been cut
    cursor.execute("SELECT id, ts, signature FROM audits.audit_log WHERE chain_seq = %s", [seq])
    row = cursor.fetchone()
    if row is None:
        head_seq, _ = chain_head(cursor)
        return Break(
            doc.get("id"),
            None,
            seq,
            f"the chain was cut: checkpoint position {seq} is gone (head is {head_seq})",
            expected=doc.get("signature"),
        )
    if row[2] != doc["signature"] or row[0] != doc["id"]:
        return Break(
            row[0],
            row[1],
            seq,
            "entry at the checkpoint position differs (tail re-chained)",
            expected=doc["signature"],
            found=row[2],
        )
    return None


def make_checkpoint() -> dict:
    """The current chain head, signed, for keeping outside the database."""
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chain_seq, id, ts, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL "
            "ORDER BY chain_seq DESC LIMIT 1"
        )
        row = cursor.fetchone()
    seq, entry_id, ts, sig = row if row else (0, None, None, signing.GENESIS)
    doc = {
        "chain_seq": seq,
        "id": entry_id,
        "ts": signing.ts_text(ts) if ts else None,
        "signature": sig,
        "exported_at": signing.ts_text(timezone.now()),
    }
    return {**doc, "mac": signing.sign_document(signing.signing_key(), doc)}
