"""What an audit entry's HMACs cover, in one place for writer, sequencer and verifier.

    content     = "<id>|<ts>|<entity>|<action>|<actor>|<payload>"
                  ts: UTC, microseconds, "YYYY-MM-DDTHH:MM:SS.ffffffZ"; actor: uuid or "";
                  payload: the jsonb text PostgreSQL prints for it (audits.jsonb)
    entry_hmac  = HMAC-SHA256(key, "entry|" + content)                       (the writer)
    signature   = HMAC-SHA256(key, "link|<chain_seq>|<prev_hash>|" + content)  (the sequencer)

entity and action are restricted to [A-Za-z0-9_.:-] and the payload comes last, so the
"|"-joined form is unambiguous. The key (AUDIT_SIGNING_KEY) lives outside the database.
entry_hmac proves an entry was written by a key holder, so rows slipped into the table
by someone who can only write the database are never sealed as genuine; signature links
each entry to the one before.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

from django.conf import settings

GENESIS = "0" * 64

# SQL expression giving ts in the signed text form, so readers need not parse timestamps.
TS_SQL = """to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def signing_key() -> bytes:
    return settings.AUDIT_SIGNING_KEY.encode("utf-8")


def ts_text(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content(entry_id: int, ts: str, entity: str, action: str, actor: str | None, payload: str) -> bytes:
    return f"{entry_id}|{ts}|{entity}|{action}|{actor or ''}|{payload}".encode()


def entry_hmac(key: bytes, body: bytes) -> str:
    return hmac.digest(key, b"entry|" + body, "sha256").hex()


def link_signature(key: bytes, body: bytes, chain_seq: int, prev_hash: str) -> str:
    return hmac.digest(key, b"link|%d|%s|" % (chain_seq, prev_hash.encode("ascii")) + body, "sha256").hex()


def sign_document(key: bytes, doc: dict) -> str:
    """HMAC of a small JSON document (chain-head checkpoints kept outside the database)."""
    body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, b"checkpoint|" + body, hashlib.sha256).hexdigest()
