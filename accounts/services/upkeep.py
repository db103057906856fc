"""Accounts upkeep: purging expired sessions, invitations and resets; re-wrapping TOTP
secrets under the current key.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User, totp_context
from audits.services import audit_record
from core import crypto

# What accounts_purge_expired deletes, per kind: the table and what "can no longer be
# used" means there (`%(now)s` is the run's cut-off).
_PURGEABLE = {
    "sessions": ("sessions", "expires_at <= %(now)s"),
    "resets": ("password_resets", "(expires_at <= %(now)s OR used)"),
    "invitations": ("invitations", "expires_at <= %(now)s"),
}


def accounts_purge_expired(
    *, now: datetime | None = None, dry_run: bool = False, actor: User | None = None, batch_size: int = 5000
) -> dict[str, int]:
    """Delete what can no longer be used: sessions past their expiry, password resets
    that expired or were used, invitations past their expiry. At most `batch_size` rows
    of each kind per transaction, each batch recording one audit entry with its counts;
    rows a writer holds are skipped this run (SKIP LOCKED) and taken by the next. The
    audit log keeps the history. Returns counts per kind (sessions, resets, invitations)."""
    now = now or timezone.now()
    counts = dict.fromkeys(_PURGEABLE, 0)
    if dry_run:
        with connection.cursor() as cursor:
            for name, (table, condition) in _PURGEABLE.items():
                cursor.execute(f"SELECT count(*) FROM {table} WHERE {condition}", {"now": now})
                counts[name] = cursor.fetchone()[0]
        return counts
    batch, first = 0, True
    while True:
        done: dict[str, int] = {}
        cleared = 0
        with transaction.atomic(), connection.cursor() as cursor:
            if first:
                # Sessions refer to the ones they replaced (SET NULL): clear references to
                # every purgeable session once, in the first (audited) batch, rather than
                # scanning for them in each. Expired sessions cannot be rotated, so no new
                # reference appears while the purge runs.
                cursor.execute(
                    "UPDATE sessions SET replaced_by_id = NULL WHERE replaced_by_id IN "
                    "(SELECT id FROM sessions WHERE expires_at <= %(now)s)",
                    {"now": now},
                )
                cleared, first = cursor.rowcount, False
            for name, (table, condition) in _PURGEABLE.items():
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} "
                    "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)",
                    {"now": now, "limit": batch_size},
                )
                done[name] = cursor.rowcount
            if any(done.values()) or cleared:
                batch += 1
                payload = {**done, "before": now, "batch": batch}
                if cleared:
                    payload["replaced_by_cleared"] = cleared
                audit_record(entity="accounts", action="purge_expired", actor=actor, payload=payload)
        for name, n in done.items():
            counts[name] += n
        if all(n < batch_size for n in done.values()):
            return counts


def totp_secrets_rewrap(*, batch_size: int = 500, dry_run: bool = False, actor: User | None = None) -> int:
    """Re-wrap every TOTP secret's data key under the current master key (the sealed
    secret itself is untouched). Batched, each batch its own audited transaction, so an
    interrupted run resumes where it stopped: rows already under the current key are
    skipped. Returns how many secrets were (or, with dry_run, would be) re-wrapped."""

    current = crypto.get_kms().current_key_id()
    prefix = f"{crypto.VERSION}:{current}:"
    done = 0
    last_id = None
    while True:
        with transaction.atomic():
            qs = User.objects.exclude(totp_secret="").exclude(totp_secret__startswith=prefix).order_by("pk")
            if last_id is not None:
                qs = qs.filter(pk__gt=last_id)
            batch = list(qs.select_for_update(of=("self",)).only("pk", "totp_secret")[:batch_size])
            if not batch:
                return done
            last_id = batch[-1].pk
            for user in batch:
                user.totp_secret = crypto.rewrap_box(user.totp_secret, context=totp_context(user.pk))
            if not dry_run:
                User.objects.bulk_update(batch, ["totp_secret"])
                audit_record(
                    entity="user", action="totp_rewrap", actor=actor, payload={"count": len(batch), "kek_id": current}
                )
            done += len(batch)
