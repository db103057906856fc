"""The one way to write the audit log: `audit_record`."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from audits import chain, jsonb, signing
from core.db import bound
from core.exceptions import ValidationFailed
from core.observability import domain
from core.observability.context import current_request_id

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# Keys that name secrets. Matched per word of a key (split on _, -, ., camelCase) so
# that "tokens_input" or "key_last_4_chars" pass while "refresh_token" does not.
_SECRET_WORDS = {"password", "passwd", "pwd", "token", "secret", "apikey", "passphrase", "plaintext"}
_SECRET_PHRASES = ("api_key", "private_key", "access_key", "refresh", "authorization", "cookie", "encrypted")
_WORD_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")


class SecretInAuditPayload(ValidationFailed):
    code = "secret_in_audit_payload"


@functools.lru_cache(maxsize=4096)
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if any(phrase in lowered.replace("-", "_") for phrase in _SECRET_PHRASES):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD_SPLIT.split(key) if word)


def is_secret_key(key: str) -> bool:
    """Whether a payload key names a secret (audit payloads refuse such keys)."""
    return _is_secret_key(str(key))


def _plain(value, path: str):
    """The payload as plain JSON types, refusing secret-named keys on the way."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = str(key)
            where = f"{path}.{key}" if path else key
            if _is_secret_key(key):
                raise SecretInAuditPayload(f"Audit payloads never hold secrets; refused key '{where}'.")
            out[key] = _plain(item, where)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value.tzinfo else value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):  # date, time
        return value.isoformat()
    raise ValidationFailed(f"Audit payload value at '{path}' is not JSON ({type(value).__name__}).")


def payload_text(payload) -> str:
    """Validate a payload and return its jsonb text (what is stored and signed)."""
    if not isinstance(payload, dict):
        raise ValidationFailed("Audit payload must be a JSON object.")
    try:
        return jsonb.render(_plain(payload, ""))
    except jsonb.NotStorable as exc:
        raise ValidationFailed(f"Audit payload cannot be stored: {exc}.") from None


# Entry ids are taken from the sequence in blocks, one block per connection, so an append
# costs one round trip (the INSERT) instead of two. Ids stay unique; their order across
# processes is not the chain order anyway (chain_seq is).
_ID_BLOCK = 64
_ids = threading.local()


def _next_id(cursor, db) -> int:
    pool = getattr(_ids, "pool", None)
    raw = db.connection
    if not pool or getattr(_ids, "conn", None) is not raw:
        cursor.execute("SELECT nextval('audits.audit_log_id_seq') FROM generate_series(1, %s)", [_ID_BLOCK])
        _ids.pool = [row[0] for row in cursor.fetchall()][::-1]
        _ids.conn = raw
    return _ids.pool.pop()


def audit_ids_forget() -> None:
    """Drop this thread's reserved block of entry ids: the next append takes a fresh one.
    Tests that count queries call it so a block refill does not depend on earlier tests."""
    _ids.pool = None


def _with_request_id(payload):
    """The payload with the id of the request that caused the entry, as security events
    carry the client's IP: the entry can be matched with that request's log lines."""
    request_id = current_request_id()
    if request_id is None or not isinstance(payload, dict) or "request_id" in payload:
        return payload
    return {**payload, "request_id": request_id}


def _count_after_commit(db, entity: str, action: str, payload) -> None:
    """Domain metrics (logins, usage, promotions, ...) count entries that committed."""
    db.on_commit(functools.partial(domain.audit_entry_committed, entity, action, payload), robust=True)


_ENTRY_COLUMNS = "id, ts, entity, action, actor, payload, entry_hmac"
# Entries are appended to audits.audit_pending; the sequencer moves them into the log with
# their chain position (audits.chain, migration 0008).
_INSERT_ENTRY = f"INSERT INTO audits.audit_pending ({_ENTRY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)"
# A change with its entry as one statement: the reads (locks, answers) first, the entry
# written only if the change wrote its row (the CTE returned it), never for a change that
# matched nothing; the statement returns how many rows the change wrote, then the answers.
_AUDITED = (
    "WITH {reads}change AS ({change} RETURNING 1), "
    f"entry AS (INSERT INTO audits.audit_pending ({_ENTRY_COLUMNS}) "
    "SELECT %s::bigint, %s::timestamptz, %s, %s, %s::uuid, %s::jsonb, %s WHERE EXISTS (SELECT FROM change)) "
    "SELECT (SELECT count(*) FROM change){answers}"
)


def audit_check(*, entity: str, action: str, payload: dict | None) -> str:
    """The checks audit_record makes, without writing: returns the payload's jsonb text or
    raises ValidationFailed (bad names, secret-named keys, values jsonb cannot hold)."""
    if not (isinstance(entity, str) and _NAME.match(entity) and isinstance(action, str) and _NAME.match(action)):
        raise ValidationFailed("Audit entity and action are 1-64 characters of A-Z a-z 0-9 _ . : -")
    return payload_text(payload or {})


def _entry_row(db, cursor, *, entity: str, action: str, actor, payload: dict | None, ts: datetime | None):
    """The checked, signed values of one new entry (in _ENTRY_COLUMNS order), and the
    payload as recorded (for _after_entry). No partition is needed yet: the entry waits in
    audits.audit_pending, and sealing creates its month's partition if missing."""
    payload = _with_request_id(payload or {})
    text = audit_check(entity=entity, action=action, payload=payload)
    actor_id = getattr(actor, "pk", actor)
    actor_text = str(actor_id) if actor_id else None
    when = (ts or timezone.now()).astimezone(UTC)
    entry_id = _next_id(cursor, db)
    body = signing.content(entry_id, signing.ts_text(when), entity, action, actor_text, text)
    mac = signing.entry_hmac(signing.signing_key(), body)
    return [entry_id, when, entity, action, actor_text, text, mac], payload


def _after_entry(db, entity: str, action: str, payload: dict) -> None:
    """Once the entry's transaction commits: seal it, count it (at once in autocommit,
    so only after the entry was written)."""
    chain.schedule_after_commit(db)
    _count_after_commit(db, entity, action, payload)


def audit_record(
    *, entity: str, action: str, actor=None, payload: dict | None = None, ts: datetime | None = None
) -> int:
    """Append one entry to the audit log, in the caller's transaction; returns its id.

    `actor` is a user (or user id) or None for the system. `ts` defaults to now; an
    explicit, older ts (legacy import) is kept as given. The entry waits in
    audits.audit_pending until the sequencer moves it into the log, sealed into the hash
    chain, right after the transaction commits (see audits.chain); sealing creates the
    month's partition if it is missing. Refuses payloads whose keys name secrets
    (passwords, tokens, keys), values jsonb cannot hold, and entity/action names outside
    [A-Za-z0-9_.:-]{1,64}.
    """
    # The connection once: every `django.db.connection.<attribute>` is a thread-local lookup.
    db = transaction.get_connection()
    with bound.cursor(db.alias) as cursor:
        row, recorded = _entry_row(db, cursor, entity=entity, action=action, actor=actor, payload=payload, ts=ts)
        cursor.execute(_INSERT_ENTRY, row)
    _after_entry(db, entity, action, recorded)
    return row[0]


@dataclass(frozen=True)
class Reads:
    """What an audited write reads in its statement before the change: common table
    expressions (`ctes`, each `name AS MATERIALIZED (...)`, fixed SQL with `params`) that
    take the write's locks and read what its caller checks before it commits, and the
    answers: `columns` of the FROM item `source` over them, which has one row, or none
    when what it reads is missing."""

    ctes: str
    params: list
    columns: str
    source: str


@dataclass(frozen=True)
class Audited:
    written: int  # rows the change wrote; its entry was written with them, if any
    answers: tuple | None  # the Reads' columns, None when their source had no row


def audited(
    change: tuple[str, list],
    *,
    reads: Reads | None = None,
    entity: str,
    action: str,
    actor=None,
    payload: dict | None = None,
) -> Audited:
    """Run `change` (one INSERT or UPDATE, as fixed (sql, params) without a RETURNING
    clause: core.db.rows) with its audit entry as one statement, after `reads`, in the
    caller's transaction, which must be open. The entry is written exactly when the
    change wrote a row. The caller checks the answers and the count before it commits and
    raises to refuse: the transaction is rolled back, change and entry with it (the
    after-commit work is scheduled already and finds nothing). The same checks as
    audit_record, made before anything is sent. The statement is bound and prepared once
    per connection (core.db.bound): the hot path of the audited experiment writes."""
    db = transaction.get_connection()
    if not db.in_atomic_block:
        raise RuntimeError("audited() runs inside transaction.atomic()")
    sql, params = change
    if reads is None:
        statement, values = _AUDITED.format(reads="", change=sql, answers=""), list(params)
    else:
        statement = _AUDITED.format(
            reads=f"{reads.ctes}, ",
            change=sql,
            answers=(
                f", answer.* FROM (VALUES (1)) AS one "
                f"LEFT JOIN (SELECT true, {reads.columns} FROM {reads.source}) AS answer ON true"
            ),
        )
        values = [*reads.params, *params]
    # One cursor for the entry's own statements (its partition, an id block) and the write.
    with bound.cursor(db.alias) as cursor:
        row, recorded = _entry_row(db, cursor, entity=entity, action=action, actor=actor, payload=payload, ts=None)
        _after_entry(db, entity, action, recorded)
        cursor.execute(statement, [*values, *row])
        written, *rest = cursor.fetchone()
    if reads is None:
        return Audited(written, None)
    found, *answers = rest
    return Audited(written, tuple(answers) if found else None)


@dataclass(frozen=True)
class AuditItem:
    """One entry for audit_record_many: what audit_record takes, ts required."""

    entity: str
    action: str
    actor: object
    payload: dict
    ts: datetime


def audit_record_many(*, items: list[AuditItem]) -> list:
    """Append many entries in the caller's transaction, in the order given.

    The bulk twin of audit_record (legacy import of past events): the same checks per
    entry, ids taken from the sequence in one statement and handed out in ascending
    order, so the sequencer seals the entries in the order given (chain order among
    them), and one INSERT for the lot. Returns one core.bulk.RowResult per item: created
    (the entry's id), or refused with the reason (nothing written for it)."""
    from core import bulk

    results: list = [None] * len(items)
    valid: list[tuple[int, AuditItem, str, datetime]] = []
    for index, item in enumerate(items):
        try:
            text = audit_check(entity=item.entity, action=item.action, payload=item.payload)
        except ValidationFailed as exc:
            results[index] = bulk.refused(bulk.error_text(exc))
            continue
        valid.append((index, item, text, item.ts.astimezone(UTC)))
    if not valid:
        return results
    key = signing.signing_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('audits.audit_log_id_seq') FROM generate_series(1, %s)", [len(valid)])
        ids = sorted(row[0] for row in cursor.fetchall())
        rows = []
        for entry_id, (index, item, text, when) in zip(ids, valid, strict=True):
            actor_id = getattr(item.actor, "pk", item.actor)
            actor_text = str(actor_id) if actor_id else None
            ts = signing.ts_text(when)
            body = signing.content(entry_id, ts, item.entity, item.action, actor_text, text)
            # The payload's jsonb text is valid JSON already: it goes into the array as
            # itself (r->5), not escaped into a string and parsed twice.
            # entity and action passed audit_check (no quotes or backslashes in them).
            actor_json = "null" if actor_text is None else f'"{actor_text}"'
            mac = signing.entry_hmac(key, body)
            rows.append(f'[{entry_id},"{ts}","{item.entity}","{item.action}",{actor_json},{text},"{mac}"]')
            results[index] = bulk.created(entry_id)
        cursor.execute(
            "INSERT INTO audits.audit_pending (id, ts, entity, action, actor, payload, entry_hmac) "
            "SELECT (r->>0)::bigint, (r->>1)::timestamptz, r->>2, r->>3, (r->>4)::uuid, r->5, r->>6 "
            "FROM jsonb_array_elements(%s::jsonb) AS r",
            ["[" + ",".join(rows) + "]"],
        )
    chain.schedule_after_commit(transaction.get_connection())
    return results


@transaction.atomic
def verification_record(*, result, source: str, since: datetime | None = None, duration_ms: int = 0, actor=None):
    """Keep the outcome of a verification run (dashboard: last verification) and audit it."""
    from audits.models import Verification

    data = result.as_dict()
    row = Verification.objects.create(
        source=source,
        ok=result.ok,
        checked=result.checked,
        pending=result.pending,
        head_seq=result.head_seq,
        since=since,
        first_broken=data["first_broken"],
        duration_ms=duration_ms,
    )
    audit_record(
        entity="audit_log",
        action="verified",
        actor=actor,
        payload={
            "ok": result.ok,
            "checked": result.checked,
            "head_seq": result.head_seq,
            "first_broken_id": (data["first_broken"] or {}).get("id"),
        },
    )
    return row
