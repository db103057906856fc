"""Point-in-time restores in the audit log.

A restore to time T brings back the chain as it was at T: entries written after T are
gone by design, and a checkpoint exported after T names a position that is now missing
or held by a later entry. `restore_record` writes the first entry after a restore
(entity `database`, action `restored`: target time, backup label, and the chain head as
restored), and `restore_explains_cut` lets `verify_audit_chain --checkpoint` tell such a
cut from tampering: the checkpoint's position lies beyond the restored head and the
checkpoint was exported before the restore entry was written.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection, transaction

from audits import signing
from audits.chain import chain_head
from audits.services import audit_record

RESTORE_ENTITY = "database"
RESTORE_ACTION = "restored"


def restored_head() -> dict:
    """The sealed chain head as the restore left it: chain_seq, id, ts, signature.
    Read before anything is sealed after the restore (entries committed before the
    target but still pending are sealed after it, beyond this position)."""
    with connection.cursor() as cursor:
        seq, signature = chain_head(cursor)
        cursor.execute("SELECT id, ts FROM audits.audit_log WHERE chain_seq = %s", [seq])
        row = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM audits.audit_pending")
        pending = cursor.fetchone()[0]
    entry_id, ts = row if row else (None, None)
    return {
        "chain_seq": seq,
        "id": entry_id,
        "ts": signing.ts_text(ts) if ts else None,
        "signature": signature,
        "pending": pending,
    }


@transaction.atomic
def restore_record(*, target_time: datetime | None, backup_label: str, head: dict, tool: str = "pgbackrest") -> int:
    """Audit a restore of the database: the first entry written after it. `head` is
    restored_head() read before anything was sealed. Returns the entry's id."""
    return audit_record(
        entity=RESTORE_ENTITY,
        action=RESTORE_ACTION,
        payload={
            "target_time": target_time,  # None: the latest archived WAL
            "backup_label": backup_label,
            "tool": tool,
            "restored_head": head,
        },
    )


def restore_explains_cut(cursor, checkpoint: dict) -> str | None:
    """Why a signed checkpoint's position is missing or different, when a restore (a
    sealed `database restored` entry, verified with the rest of the chain) accounts for
    it: the position lies beyond the head that restore kept, and the checkpoint was
    exported before the restore. None when no restore explains it (tampering)."""
    seq = int(checkpoint["chain_seq"])
    exported = checkpoint.get("exported_at")
    if not exported:
        return None
    cursor.execute(
        f"SELECT chain_seq, {signing.TS_SQL}, payload::text FROM audits.audit_log "
        "WHERE entity = %s AND action = %s AND chain_seq IS NOT NULL ORDER BY chain_seq",
        [RESTORE_ENTITY, RESTORE_ACTION],
    )
    for restore_seq, restore_ts, payload_text in cursor.fetchall():
        payload = json.loads(payload_text)
        kept = int((payload.get("restored_head") or {}).get("chain_seq", -1))
        # ts texts are fixed-width UTC ("...Z"), so they compare as strings.
        if kept < seq and str(exported) < restore_ts:
            target = payload.get("target_time") or "the latest archived WAL"
            return (
                f"checkpoint position {seq} was cut by the restore recorded at position {restore_seq} "
                f"({restore_ts}: to {target}, backup {payload.get('backup_label')}, chain kept up to position "
                f"{kept}); the checkpoint was exported before that restore"
            )
    return None
