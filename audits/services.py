"""The one way to write the audit log: `audit_record`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audits import chain, partitions, signing
from core import canonical
from core.exceptions import ValidationFailed
from core.parsers import find_nul

# Keys that name secrets. Matched per word of a key (split on _, -, ., camelCase) so
# that "tokens_input" or "key_last_4_chars" pass while "refresh_token" does not.
_SECRET_WORDS = {"password", "passwd", "pwd", "token", "secret", "apikey", "passphrase", "plaintext"}
_SECRET_PHRASES = ("api_key", "private_key", "access_key", "refresh", "authorization", "cookie", "encrypted")
_WORD_SPLIT = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")


def _secret_key_path(value, path: str = "") -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            lowered = key_text.lower()
            words = {w.lower() for w in _WORD_SPLIT.split(key_text) if w}
            if words & _SECRET_WORDS or any(p in lowered.replace("-", "_") for p in _SECRET_PHRASES):
                return f"{path}.{key_text}" if path else key_text
            found = _secret_key_path(item, f"{path}.{key_text}" if path else key_text)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _secret_key_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


class SecretInAuditPayload(ValidationFailed):
    code = "secret_in_audit_payload"


def _validate(entity: str, action: str, payload) -> dict:
    if not entity or len(entity) > 64 or not action or len(action) > 64:
        raise ValidationFailed("Audit entity and action are 1-64 characters.")
    if not isinstance(payload, dict):
        raise ValidationFailed("Audit payload must be a JSON object.")
    where = _secret_key_path(payload)
    if where:
        raise SecretInAuditPayload(f"Audit payloads never hold secrets; refused key '{where}'.")
    try:
        normalized = canonical.normalize(canonical_jsonable(payload))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"Audit payload is not JSON: {exc}") from None
    if find_nul(normalized) or "\x00" in entity or "\x00" in action:
        raise ValidationFailed("Audit entries cannot hold NUL characters.")
    return normalized


def canonical_jsonable(value):
    """Plain JSON types only: UUIDs, dates, decimals and the like become strings."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False))


def audit_record(
    *, entity: str, action: str, actor=None, payload: dict | None = None, ts: datetime | None = None
) -> int:
    """Append one entry to the audit log, in the caller's transaction; returns its id.

    `actor` is a user (or user id) or None for the system. `ts` defaults to now; an
    explicit, older ts (legacy import) creates that month's partition on the spot. The
    entry is sealed into the hash chain right after the transaction commits (see
    audits.chain). Refuses payloads whose keys name secrets (passwords, tokens, keys).
    """
    normalized = _validate(entity, action, payload or {})
    actor_id = getattr(actor, "pk", actor)
    when = (ts or timezone.now()).astimezone(UTC)
    key = signing.signing_key()
    with connection.cursor() as cursor:
        if ts is None:
            partitions.ensure_partition_for(when, cursor=cursor)
        else:
            partitions.ensure_partition(when.date(), cursor=cursor)
        cursor.execute("SELECT nextval('audits.audit_log_id_seq')")
        entry_id = cursor.fetchone()[0]
        body = signing.content(entry_id, when, entity, action, actor_id, normalized)
        cursor.execute(
            "INSERT INTO audits.audit_log (id, ts, entity, action, actor, payload, entry_hmac) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
            [entry_id, when, entity, action, actor_id, canonical.dumps(normalized), signing.entry_hmac(key, body)],
        )
    chain.schedule_after_commit()
    return entry_id


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
