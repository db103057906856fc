"""Entries sealed under a wrong AUDIT_SIGNING_KEY, acknowledged with the right one.

Before the start-up and sequencer key checks existed, a process started with a wrong
key (an empty one) could seal entries under it; verification with the right key then
reports the chain broken at the first of them, forever. Such entries cannot be told
apart from forgeries by what they contain (anyone knows an empty key), so nothing
excuses them automatically: the operator, holding the right key, records which exact
entries they are (position, id, a digest of their content and their signature) in an
`audit_log.wrong_key_acknowledged` entry, which the right key signs and the chain seals
after them. Verification then accepts exactly those rows, unchanged, at those positions,
and reports how many it accepted; an acknowledgement that does not verify under the key,
or that names positions at or after its own, excuses nothing and is reported.
"""

from __future__ import annotations

import hashlib
import json

from django.db import connection, transaction

from audits import signing
from core.exceptions import ValidationFailed

ACK_ENTITY = "audit_log"
ACK_ACTION = "wrong_key_acknowledged"


def content_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _sealed_rows(cursor, where: str, params: list):
    cursor.execute(
        f"SELECT chain_seq, id, {signing.TS_SQL}, entity, action, actor::text, payload::text, entry_hmac, "
        f"prev_hash, signature FROM audits.audit_log WHERE chain_seq IS NOT NULL AND {where} ORDER BY chain_seq",
        params,
    )
    for seq, entry_id, ts, entity, action, actor, payload, mac, prev_hash, sig in cursor.fetchall():
        body = signing.content(entry_id, ts, entity, action, actor, payload)
        yield seq, entry_id, ts, payload, body, mac, prev_hash, sig


def _verifies(key: bytes, body: bytes, seq: int, mac: str, prev_hash: str, sig: str) -> bool:
    return signing.entry_hmac(key, body) == mac and signing.link_signature(key, body, seq, prev_hash or "") == sig


def wrong_key_acknowledge(*, first_seq: int, last_seq: int, reason: str, actor=None) -> int:
    """Record, signed with the current key, that the sealed entries at positions
    first_seq..last_seq that do not verify under it were sealed under a wrong key.
    Refuses a range holding no such entry. Returns the acknowledgement's entry id."""
    from audits.services import audit_record

    if not reason or not reason.strip():
        raise ValidationFailed.field("reason", "Say why these entries are acknowledged.")
    if first_seq < 1 or last_seq < first_seq:
        raise ValidationFailed.field("positions", "Give a range of chain positions, first <= last, from 1.")
    key = signing.signing_key()
    with transaction.atomic(), connection.cursor() as cursor:
        entries = [
            [seq, entry_id, content_digest(body), sig]
            for seq, entry_id, _ts, _payload, body, mac, prev_hash, sig in _sealed_rows(
                cursor, "chain_seq BETWEEN %s AND %s", [first_seq, last_seq]
            )
            if not _verifies(key, body, seq, mac, prev_hash, sig)
        ]
        if not entries:
            raise ValidationFailed.field("positions", "Every sealed entry in that range verifies under this key.")
        return audit_record(
            entity=ACK_ENTITY, action=ACK_ACTION, payload={"entries": entries, "reason": reason.strip()}
        )


def acknowledged_entries(cursor, key: bytes, head_seq: int, break_type):
    """({position: (id, content digest, signature)} named by acknowledgements that verify
    under `key` and name positions before their own, [break_type for every other one])."""
    acked: dict[int, tuple[int, str, str]] = {}
    problems = []
    for seq, entry_id, ts, payload, body, mac, prev_hash, sig in _sealed_rows(
        cursor, "entity = %s AND action = %s", [ACK_ENTITY, ACK_ACTION]
    ):
        entries = json.loads(payload).get("entries", [])
        if not _verifies(key, body, seq, mac, prev_hash, sig) or not 1 <= seq <= head_seq:
            reason = (
                "a wrong_key_acknowledged entry does not verify under the key (forged or edited); it excuses nothing"
            )
        elif any(int(e[0]) >= seq for e in entries):
            reason = "a wrong_key_acknowledged entry names positions at or after its own"
        else:
            for position, acked_id, digest, signature in entries:
                acked[int(position)] = (int(acked_id), str(digest), str(signature))
            continue
        problems.append(break_type(entry_id, ts, seq, reason))
    return acked, problems
