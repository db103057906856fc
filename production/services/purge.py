"""Purging expired artifacts and accounts' expired rows (manage.py purge_expired)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import accounts_purge_expired
from audits.services import audit_record
from core.locks import AdvisoryLock
from production import rules
from production.models import Artifact

# Advisory lock of `manage.py purge_expired` (session-scoped: one run at a time).
PURGE_LOCK = AdvisoryLock.PURGE


@dataclass
class PurgeReport:
    """What purge_expired did (or, in a dry run, would do)."""

    before: datetime
    dry_run: bool
    artifacts: int = 0
    artifact_batches: int = 0
    accounts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        parts = [f"{self.artifacts} expired artifact(s)"]
        if not self.dry_run:
            parts[0] += f" in {self.artifact_batches} batch(es)"
        parts += [
            f"{self.accounts.get('sessions', 0)} expired login session(s)",
            f"{self.accounts.get('resets', 0)} used or expired password reset(s)",
            f"{self.accounts.get('invitations', 0)} expired invitation(s)",
        ]
        return (
            f"purge_expired{' (dry run)' if self.dry_run else ''}: {verb} "
            + ", ".join(parts)
            + (f" (expired at or before {self.before.isoformat()})")
        )


def artifacts_purge_expired(
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    actor: User | None = None,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]:
    """Delete artifacts whose expires_at is at or before `now`, `batch_size` rows per
    transaction, each batch recording one audit entry that summarizes it (count, the
    cut-off, the ids' range). Rows locked by a writer are skipped this run (SKIP LOCKED)
    and taken by the next. Returns (deleted, batches); a dry run counts and writes
    nothing. Idempotent: a second run finds nothing to delete and records nothing."""
    now = now or timezone.now()
    rules.whole_number(batch_size, "batch_size", minimum=1, maximum=100_000)
    if dry_run:
        return Artifact.objects.filter(expires_at__lte=now).count(), 0
    deleted = batches = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    DELETE FROM artifacts WHERE id IN (
                        SELECT id FROM artifacts WHERE expires_at <= %s
                        ORDER BY expires_at, id LIMIT %s FOR UPDATE SKIP LOCKED)
                    RETURNING id, session_id, size_bytes
                    """,
                    [now, batch_size],
                )
                rows = cursor.fetchall()
            if rows:
                ids = sorted(str(row[0]) for row in rows)
                audit_record(
                    entity="artifact",
                    action="purge",
                    actor=actor,
                    payload={
                        "count": len(rows),
                        "before": now,
                        "bytes": sum(row[2] for row in rows),
                        "sessions": len({row[1] for row in rows}),
                        "first_id": ids[0],
                        "last_id": ids[-1],
                        "batch": batches + 1,
                    },
                )
        if not rows:
            return deleted, batches
        deleted += len(rows)
        batches += 1
        if progress is not None:
            progress(len(rows))
        if len(rows) < batch_size:
            return deleted, batches


def purge_expired(
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    dry_run: bool = False,
    actor: User | None = None,
    progress: Callable[[int], object] | None = None,
) -> PurgeReport:
    """Everything `manage.py purge_expired` deletes: expired artifacts (batched, see
    artifacts_purge_expired), then expired login sessions, used or expired password
    resets and expired invitations (accounts.services.accounts_purge_expired, batched
    the same way). One cut-off time for the whole run."""

    now = now or timezone.now()
    report = PurgeReport(before=now, dry_run=dry_run)
    report.artifacts, report.artifact_batches = artifacts_purge_expired(
        now=now, batch_size=batch_size, dry_run=dry_run, actor=actor, progress=progress
    )
    report.accounts = accounts_purge_expired(now=now, dry_run=dry_run, actor=actor, batch_size=batch_size)
    return report
