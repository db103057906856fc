"""Usage reconciliation: the counters in usage_tracking against the event ledger.

Every usage_record writes, in the same transaction as its upsert, an audit entry
(entity "usage", action "record") holding the day, user, provider, model, requests,
tokens and cost. The audit log is append-only and hash-chained, so it is the ledger:
for a day, the sums of those entries per (user, provider, model) must equal the rows.
Both are written by one transaction or neither is, so any difference is corruption
(a hand edit, a restore of one table without the other), never a race."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection

from audits.partitions import list_partitions, month_start
from providers.periods import quota_zone

_KEY = tuple[str, str, str]


@dataclass
class Mismatch:
    user: str
    provider: str
    model: str
    counters: tuple[int, int, int, Decimal] | None  # requests, tokens in, tokens out, cost
    ledger: tuple[int, int, int, Decimal] | None


@dataclass
class ReconcileReport:
    day: date
    rows: int = 0
    events: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    ledger_missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.ledger_missing


def usage_reconcile(*, day: date) -> ReconcileReport:
    """Compare one day's usage rows with the sum of that day's usage events."""
    report = ReconcileReport(day=day)
    zone = quota_zone()
    # Audit ts is taken just after the usage's day is decided, so look a little wider
    # than the day itself; the payload's date is what assigns an event to a day.
    start = datetime(day.year, day.month, day.day, tzinfo=zone) - timedelta(hours=1)
    end = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1, hours=1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id::text, provider_id::text, model, requests_count, tokens_input, tokens_output, cost_usd "
            "FROM providers.usage_tracking WHERE date = %s",
            [day],
        )
        counters: dict[_KEY, tuple] = {(u, p, m): (r, ti, to, c) for u, p, m, r, ti, to, c in cursor.fetchall()}
        cursor.execute(
            """
            SELECT payload->>'user', payload->>'provider', payload->>'model', count(*),
                   sum((payload->>'requests')::bigint), sum((payload->>'tokens_input')::bigint),
                   sum((payload->>'tokens_output')::bigint), sum((payload->>'cost')::numeric)
              FROM audits.audit_entries
             WHERE entity = 'usage' AND action = 'record' AND ts >= %s AND ts < %s
               AND payload->>'date' = %s
             GROUP BY 1, 2, 3
            """,
            [start, end, day.isoformat()],
        )
        ledger: dict[_KEY, tuple] = {}
        for u, p, m, n, r, ti, to, c in cursor.fetchall():
            ledger[(u, p, m)] = (int(r), int(ti), int(to), Decimal(c))
            report.events += n
    report.rows = len(counters)
    if counters and not ledger:
        # Retention may have dropped that month's audit partition: nothing to prove against.
        months = {p.month for p in list_partitions()}
        if month_start(day) not in months:
            report.ledger_missing = True
            return report
    for key in sorted(set(counters) | set(ledger)):
        have, want = counters.get(key), ledger.get(key)
        if have is None or want is None or tuple(have) != tuple(want):
            report.mismatches.append(Mismatch(*key, counters=have, ledger=want))
    return report
