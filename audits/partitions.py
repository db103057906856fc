"""Monthly partitions of audits.audit_log: naming, bounds, creation, listing, retention.

The DDL itself lives in SQL (migration 0001's `audit_log_ensure_partition`); this module
only decides which months and runs it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection

PARTITION_RE = re.compile(r"^audit_log_(\d{4})_(\d{2})$")


def month_start(d: date | datetime) -> date:
    return date(d.year, d.month, 1)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(d: date | datetime) -> str:
    return f"audit_log_{d.year:04d}_{d.month:02d}"


def ensure_partition(month: date, *, cursor=None) -> bool:
    """Create the month's partition if missing; True if this call created it."""
    if cursor is None:
        with connection.cursor() as cur:
            return ensure_partition(month, cursor=cur)
    cursor.execute("SELECT audits.audit_log_ensure_partition(%s)", [month_start(month)])
    return bool(cursor.fetchone()[0])


@dataclass(frozen=True)
class PartitionInfo:
    name: str
    month: date
    detach_pending: bool
    size_bytes: int
    row_estimate: int


def list_partitions() -> list[PartitionInfo]:
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, i.inhdetachpending, pg_total_relation_size(c.oid), c.reltuples::bigint
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = p.relnamespace
            WHERE n.nspname = 'audits' AND p.relname = 'audit_log'
            ORDER BY c.relname
            """
        )
        rows = cur.fetchall()
    result = []
    for name, pending, size, estimate in rows:
        match = PARTITION_RE.match(name)
        if match:
            result.append(PartitionInfo(name, date(int(match[1]), int(match[2]), 1), pending, size, max(estimate, 0)))
    return result
