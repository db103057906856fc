"""Chain verification: recompute every entry's HMACs and links, report the first break.

Streams the chain in chain_seq order through a server-side cursor (bounded memory).
Detects an edited entry (entry_hmac or signature no longer matches), a deleted or
re-ordered entry (chain_seq gap or prev_hash mismatch), a tail re-chained without the key
(signatures do not verify), and, given a checkpoint exported earlier, a cut tail (the
checkpointed entry is missing or different). Gaps left by retention are accepted only
where a signed `partition_dropped` entry accounts for exactly those positions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction

from audits import signing
from audits.chain import chain_head

DROPPED_ENTITY = "audit_log"
DROPPED_ACTION = "partition_dropped"


@dataclass
class Break:
    id: int | None
    ts: datetime | None
    chain_seq: int | None
    reason: str
    expected: str | None = None
    found: str | None = None

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "ts": self.ts.isoformat() if self.ts else None,
            "chain_seq": self.chain_seq,
            "reason": self.reason,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass
class VerifyResult:
    checked: int = 0
    first_broken: Break | None = None
    pending: int = 0
    pending_invalid: list[int] = field(default_factory=list)
    head_seq: int = 0
    head_signature: str = signing.GENESIS

    @property
    def ok(self) -> bool:
        return self.first_broken is None and not self.pending_invalid

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
        }


def _dropped_runs(cursor) -> dict[int, tuple[int, str]]:
    """first_seq → (last_seq, last_signature) of every run of positions removed by retention."""
    cursor.execute(
        "SELECT payload FROM audits.audit_log WHERE entity = %s AND action = %s AND chain_seq IS NOT NULL",
        [DROPPED_ENTITY, DROPPED_ACTION],
    )
    rows = [(json.loads(p),) for (p,) in cursor.fetchall()]
    runs: dict[int, tuple[int, str]] = {}
    for (payload,) in rows:
        for first, last, last_sig in payload.get("runs", []):
            runs[int(first)] = (int(last), str(last_sig))
    return runs


def _explained_gap(runs, after_seq: int, before_seq: int, prev_hash: str) -> bool:
    """Do dropped runs tile positions after_seq+1 .. before_seq-1, ending in prev_hash?"""
    position, last_sig = after_seq + 1, None
    while position < before_seq:
        run = runs.get(position)
        if run is None:
            return False
        position, last_sig = run[0] + 1, run[1]
    return position == before_seq and last_sig == prev_hash


def _check_pending(cursor, result: VerifyResult, key: bytes) -> None:
    cursor.execute(
        f"SELECT id, {signing.TS_SQL}, entity, action, actor::text, payload::text, entry_hmac "
        "FROM audits.audit_log WHERE chain_seq IS NULL ORDER BY id"
    )
    for entry_id, ts, entity, action, actor, payload, mac in cursor.fetchall():
        result.pending += 1
        if signing.entry_hmac(key, signing.content(entry_id, ts, entity, action, actor, payload)) != mac:
            result.pending_invalid.append(entry_id)


def _stream_chain(cursor, start_seq: int):
    """Sealed entries in chain order, as tuples of text, through COPY (no per-row type
    conversion: the fields are hashed as PostgreSQL prints them)."""
    sql = (
        f"COPY (SELECT chain_seq, id, {signing.TS_SQL}, entity, action, actor, payload::text, entry_hmac, "
        f"prev_hash, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL AND chain_seq >= {int(start_seq)} "
        "ORDER BY chain_seq) TO STDOUT"
    )
    tail = b""
    with cursor.cursor.copy(sql) as copy:
        for block in copy:
            lines = (tail + bytes(block)).split(b"\n")
            tail = lines.pop()
            for line in lines:
                yield line.decode("utf-8").split("\t")
    if tail:
        yield tail.decode("utf-8").split("\t")


def _as_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def verify_chain(
    *, since: datetime | None = None, checkpoint: dict | None = None, progress=None, unbounded: bool = False
) -> VerifyResult:
    """Walk the chain (from `since`'s first entry, or from the start) and report the
    first broken link. The walk is one COPY statement, so the connection's statement
    timeout bounds it: right for a web request (a too-long walk answers 503), wrong for
    the operator's command and the nightly job on a log of millions of entries, which
    pass `unbounded=True` to lift it for this transaction only."""
    key = signing.signing_key()
    result = VerifyResult()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            # One snapshot for the whole walk, so entries sealed meanwhile do not shift it.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if unbounded:
            cursor.execute("SET LOCAL statement_timeout = 0")
        runs = _dropped_runs(cursor)
        start_seq = 0
        if since is not None:
            cursor.execute(
                "SELECT min(chain_seq) FROM audits.audit_log WHERE ts >= %s AND chain_seq IS NOT NULL", [since]
            )
            start_seq = cursor.fetchone()[0] or 0
            if not start_seq:
                _check_pending(cursor, result, key)
                return result
        result.head_seq, result.head_signature = chain_head(cursor)
        _check_pending(cursor, result, key)
        last_seq, last_sig = (None, None) if since is not None else (0, signing.GENESIS)
        content, entry_mac, link = signing.content, signing.entry_hmac, signing.link_signature
        checked = 0
        for seq_text, id_text, ts, entity, action, actor, payload, mac, prev_hash, sig in _stream_chain(
            cursor, start_seq
        ):
            seq = int(seq_text)
            if "\\" in payload:
                payload = payload.replace("\\\\", "\\")  # COPY doubles backslashes
            body = content(id_text, ts, entity, action, None if actor == "\\N" else actor, payload)
            problem = None
            if entry_mac(key, body) != mac:
                problem = "entry content does not match its entry_hmac (edited)", None, None
            elif last_seq is not None and seq != last_seq + 1:
                if seq == last_seq:
                    problem = "two entries share one chain position", None, None
                elif not _explained_gap(runs, last_seq, seq, prev_hash):
                    problem = (
                        f"entries {last_seq + 1}..{seq - 1} of the chain are missing (deleted)",
                        str(last_seq + 1),
                        str(seq),
                    )
            elif last_sig is not None and prev_hash != last_sig:
                problem = "prev_hash does not match the previous entry's signature", last_sig, prev_hash
            if problem is None and link(key, body, seq, prev_hash) != sig:
                problem = "signature does not verify (re-chained or edited)", None, sig
            if problem is not None:
                reason, expected, found = problem
                result.first_broken = Break(int(id_text), _as_ts(ts), seq, reason, expected=expected, found=found)
                break
            checked += 1
            last_seq, last_sig = seq, sig
            if progress is not None and checked % 10_000 == 0:
                progress(10_000)
        result.checked = checked
        if result.first_broken is None and checkpoint is not None:
            result.first_broken = _check_against_checkpoint(cursor, checkpoint, key)
    return result


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
