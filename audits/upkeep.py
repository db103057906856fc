"""Partition upkeep: create months ahead, retire months past retention.

Retiring a month never breaks verification of what remains: before the partition is
detached, a signed `audit_log.partition_dropped` entry records the runs of chain
positions it held (first, last, last signature), its row count and range, carrying
forward the runs of earlier drops recorded inside it. The verifier accepts a gap in the
chain only where such runs tile it exactly.

Runs under a session-level advisory lock (so two concurrent runs are safe): this is the
one place that needs a session lock, because DETACH ... CONCURRENTLY cannot run inside a
transaction. Run it against the database directly (DATABASE_OWNER_URL), not through a
transaction-pooling PgBouncer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from audits import partitions
from audits.chain import chain_pending
from audits.services import audit_record
from audits.verify import DROPPED_ACTION, DROPPED_ENTITY
from core.locks import AdvisoryLock

UPKEEP_LOCK = AdvisoryLock.AUDIT_UPKEEP


@dataclass
class UpkeepReport:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False
    busy: bool = False

    def lines(self) -> list[str]:
        verb = "would " if self.dry_run else ""
        done = "would be " if self.dry_run else ""
        if self.busy:
            return ["another audit_partitions run holds the upkeep lock; nothing done"]
        out = [f"{verb}create {name}" for name in self.created]
        out += [f"{verb}drop {name}" for name in self.dropped]
        out += [f"skip {reason}" for reason in self.skipped]
        out.append(
            f"audit partitions: {len(self.created)} {done}created, {len(self.dropped)} {done}dropped"
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
        )
        return out


def _merge_runs(runs: list[tuple[int, int, str]]) -> list[list]:
    merged: list[list] = []
    for first, last, sig in sorted(runs):
        if merged and merged[-1][1] + 1 == first:
            merged[-1][1], merged[-1][2] = last, sig
        else:
            merged.append([first, last, sig])
    return merged


def _partition_checkpoint(cursor, name: str) -> dict:
    cursor.execute(
        f"""
        WITH s AS (
            SELECT chain_seq, signature, chain_seq - row_number() OVER (ORDER BY chain_seq) AS grp
            FROM audits.{name} WHERE chain_seq IS NOT NULL
        )
        SELECT min(chain_seq), max(chain_seq), (array_agg(signature ORDER BY chain_seq DESC))[1], count(*)
        FROM s GROUP BY grp
        """
    )
    runs = [(first, last, sig) for first, last, sig, _ in cursor.fetchall()]
    cursor.execute(f"SELECT count(*) FROM audits.{name}")
    rows = cursor.fetchone()[0]
    cursor.execute(
        f"SELECT payload FROM audits.{name} WHERE entity = %s AND action = %s", [DROPPED_ENTITY, DROPPED_ACTION]
    )
    for (payload,) in cursor.fetchall():
        runs += [tuple(run) for run in json.loads(payload).get("runs", [])]
    return {"rows": rows, "runs": _merge_runs(runs)}


def _recorded_drop(cursor, name: str, runs: list) -> bool:
    """Did an earlier, interrupted run already record this very content? (A month's
    partition can be created again later, e.g. by importing old events, so the name
    alone is not enough.)"""
    cursor.execute(
        "SELECT 1 FROM audits.audit_log WHERE entity = %s AND action = %s AND payload->>'partition' = %s "
        "AND payload->'runs' = %s::jsonb LIMIT 1",
        [DROPPED_ENTITY, DROPPED_ACTION, name, json.dumps(runs)],
    )
    return cursor.fetchone() is not None


def _midnight_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _retire(info: partitions.PartitionInfo, report: UpkeepReport, actor) -> None:
    name = info.name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM audits.audit_pending WHERE ts >= %s AND ts < %s)",
            [_midnight_utc(info.month), _midnight_utc(partitions.add_months(info.month, 1))],
        )
        if cursor.fetchone()[0]:
            report.skipped.append(f"{name}: it holds entries not yet sealed into the chain")
            return
        summary = _partition_checkpoint(cursor, name)
        if not _recorded_drop(cursor, name, summary["runs"]):
            audit_record(
                entity=DROPPED_ENTITY,
                action=DROPPED_ACTION,
                actor=actor,
                payload={
                    "partition": name,
                    "from": info.month.isoformat(),
                    "to": partitions.add_months(info.month, 1).isoformat(),
                    **summary,
                },
            )
    chain_pending(wait=True)  # the checkpoint is sealed before the rows go
    # Detaching and dropping need the table's owner (the app role owns nothing).
    with connections["owner" if "owner" in settings.DATABASES else "default"].cursor() as cursor:
        if info.detach_pending:
            cursor.execute(f"ALTER TABLE audits.audit_log DETACH PARTITION audits.{name} FINALIZE")
        else:
            cursor.execute(f"ALTER TABLE audits.audit_log DETACH PARTITION audits.{name} CONCURRENTLY")
        cursor.execute(f"DROP TABLE audits.{name}")
    report.dropped.append(name)


def partitions_maintain(
    *, ahead: int = 3, retain_months: int | None = None, dry_run: bool = False, actor=None, today: date | None = None
) -> UpkeepReport:
    """Create every missing month from now to `ahead` months on; with retain_months,
    retire partitions wholly older than that many months before the current month."""
    if ahead < 0 or (retain_months is not None and retain_months < 1):
        raise ValueError("ahead must be >= 0 and retain_months >= 1")
    if connection.in_atomic_block:
        raise RuntimeError("partitions_maintain() manages its own transactions")
    report = UpkeepReport(dry_run=dry_run)
    current = partitions.month_start(today or timezone.now().date())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [UPKEEP_LOCK])
        if not cursor.fetchone()[0]:
            report.busy = True
            return report
    try:
        existing = {p.month: p for p in partitions.list_partitions()}
        for offset in range(ahead + 1):
            month = partitions.add_months(current, offset)
            if month not in existing:
                if not dry_run:
                    partitions.ensure_partition(month)
                report.created.append(partitions.partition_name(month))
        if retain_months is not None:
            cutoff = partitions.add_months(current, -retain_months)
            expired = [p for month, p in sorted(existing.items()) if month < cutoff]
            if expired and not dry_run:
                chain_pending(wait=True)
            for info in expired:
                if dry_run:
                    report.dropped.append(info.name)
                else:
                    _retire(info, report, actor)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [UPKEEP_LOCK])
    return report
