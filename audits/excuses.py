"""What verification accepts in place of a link of the chain, each authenticated by the
key or reported (docs/audit.md, threat model): gaps left by retention, explained only by
`partition_dropped` markers that are themselves verifying sealed entries placed after
the positions they claim; and rows outside the walk (chain_seq below 1), reported.
Acknowledged wrong-key entries: audits.acknowledge."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from audits import signing

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


def as_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def dropped_runs(cursor, key: bytes, head_seq: int) -> tuple[dict[int, tuple[int, str]], list[Break]]:
    """first_seq → (last_seq, last_signature) of every run of positions removed by
    retention, taken only from markers that are themselves sealed entries of the chain
    verifying under the key, each explaining positions before its own; and a Break for
    every marker that is not (a forged or edited marker is tampering in its own right).

    The markers are read ahead of the walk because the gaps they explain come before
    them in chain order; the walk checks them again, with their links, where they sit."""
    cursor.execute(
        f"SELECT chain_seq, id, {signing.TS_SQL}, entity, action, actor::text, payload::text, entry_hmac, "
        "prev_hash, signature FROM audits.audit_log WHERE entity = %s AND action = %s AND chain_seq IS NOT NULL "
        "ORDER BY chain_seq",
        [DROPPED_ENTITY, DROPPED_ACTION],
    )
    runs: dict[int, tuple[int, str]] = {}
    problems: list[Break] = []
    for seq, entry_id, ts, entity, action, actor, payload, mac, prev_hash, sig in cursor.fetchall():
        body = signing.content(entry_id, ts, entity, action, actor, payload)
        reason = None
        if signing.entry_hmac(key, body) != mac or signing.link_signature(key, body, seq, prev_hash or "") != sig:
            reason = "a partition_dropped marker does not verify under the key (forged or edited); it excuses no gap"
        elif not 1 <= seq <= head_seq:
            reason = "a partition_dropped marker lies outside the chain; it excuses no gap"
        marker_runs = [] if reason else json.loads(payload).get("runs", [])
        if any(int(last) >= seq for _first, last, _sig in marker_runs):
            reason, marker_runs = "a partition_dropped marker claims positions at or after its own", []
        if reason:
            problems.append(Break(entry_id, as_ts(ts), seq, reason))
        for first, last, last_sig in marker_runs:
            runs[int(first)] = (int(last), str(last_sig))
    return runs, problems


def outside_the_chain(cursor) -> Break | None:
    """A sealed row at a position the chain never gives (below 1): the walk, which starts
    at position 1, would never see it, nor would anything that trusts sealed entries."""
    cursor.execute(
        f"SELECT id, {signing.TS_SQL}, chain_seq FROM audits.audit_log WHERE chain_seq < 1 ORDER BY chain_seq LIMIT 1"
    )
    row = cursor.fetchone()
    if row is None:
        return None
    return Break(row[0], as_ts(row[1]), row[2], "an entry lies outside the chain (chain_seq below 1)")


def explained_gap(runs, after_seq: int, before_seq: int, prev_hash: str) -> bool:
    """Do dropped runs tile positions after_seq+1 .. before_seq-1, ending in prev_hash?"""
    position, last_sig = after_seq + 1, None
    while position < before_seq:
        run = runs.get(position)
        if run is None:
            return False
        position, last_sig = run[0] + 1, run[1]
    return position == before_seq and last_sig == prev_hash
