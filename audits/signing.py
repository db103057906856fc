"""What an audit entry's HMACs cover, in one place for writer, sequencer and verifier.

    content     = canonical JSON of [id, ts, entity, action, actor, payload]
    entry_hmac  = HMAC-SHA256(key, "entry|" + content)                 (by the writer)
    signature   = HMAC-SHA256(key, "link|" + chain_seq + "|" + prev_hash + "|" + content)
                                                                          (by the sequencer)

The key (AUDIT_SIGNING_KEY) lives outside the database. entry_hmac proves an entry was
written by a key holder, so rows slipped into the table by someone who can only write
the database are never sealed as genuine; signature links each entry to the one before.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.conf import settings

GENESIS = "0" * 64


def signing_key() -> bytes:
    return settings.AUDIT_SIGNING_KEY.encode("utf-8")


def ts_text(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_value(raw):
    """jsonb as Django's raw cursors return it (text) → the JSON value."""
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def content(entry_id: int, ts: datetime, entity: str, action: str, actor, payload) -> bytes:
    # payload is already normalized (core.canonical.normalize) when written, and jsonb
    # gives back the same value, so plain sorted json.dumps is canonical here.
    return json.dumps(
        [entry_id, ts_text(ts), entity, action, str(actor) if actor else None, payload],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def entry_hmac(key: bytes, body: bytes) -> str:
    return hmac.new(key, b"entry|" + body, hashlib.sha256).hexdigest()


def link_signature(key: bytes, body: bytes, chain_seq: int, prev_hash: str) -> str:
    return hmac.new(key, b"link|%d|%s|" % (chain_seq, prev_hash.encode("ascii")) + body, hashlib.sha256).hexdigest()


def sign_document(key: bytes, doc: dict) -> str:
    """HMAC of a small JSON document (chain-head checkpoints kept outside the database)."""
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"checkpoint|" + body, hashlib.sha256).hexdigest()
