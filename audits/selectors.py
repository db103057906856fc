"""Reads of the audit log. Time filters always reach SQL as literal bounds on ts, so
PostgreSQL prunes the monthly partitions outside them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from audits.models import AuditLogRow, Statistic, Verification
from audits.partitions import PartitionInfo, add_months, list_partitions, month_start


def audit_log_list(*, with_actor_email: bool = False) -> QuerySet[AuditLogRow]:
    """The audit log, for the API, the admin and the console's object histories. With
    `with_actor_email`, each entry carries `actor_email`, its actor's e-mail (entries
    keep only the id: no foreign key, entries outlive users): one index probe per row
    read, inside the same query."""
    queryset = AuditLogRow.objects.all()
    if with_actor_email:
        users = get_user_model().objects.filter(pk=OuterRef("actor")).values("email")[:1]
        queryset = queryset.annotate(actor_email=Subquery(users))
    return queryset


def statistics_list() -> QuerySet[Statistic]:
    return Statistic.objects.all()


def last_verification() -> Verification | None:
    return Verification.objects.order_by("-created_at").first()


def chain_status() -> dict:
    """Head of the chain and how far sealing lags behind, for the dashboard and /verify."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT chain_seq, id, ts FROM audits.audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
        )
        head = cursor.fetchone()
        cursor.execute("SELECT count(*), min(ts) FROM audits.audit_pending")
        pending, oldest = cursor.fetchone()
    return {
        "head_seq": head[0] if head else 0,
        "head_id": head[1] if head else None,
        "head_ts": head[2] if head else None,
        "pending": pending,
        "oldest_pending_ts": oldest,
    }


@dataclass(frozen=True)
class PartitionSummary:
    partitions: list[PartitionInfo]
    first_month: date | None
    last_month: date | None
    current_month: date
    # The first month, from the current one on, that has no partition yet.
    next_missing: date
    # Months after the current one already created (the upkeep job keeps AUDIT_PARTITIONS_AHEAD).
    months_ahead: int
    detach_pending: list[str]
    total_bytes: int
    row_estimate: int

    @property
    def gaps(self) -> list[date]:
        """Months between the first and the last partition without one (retention drops
        only the oldest, so a gap means someone dropped a partition by hand)."""
        if self.first_month is None or self.last_month is None:
            return []
        have = {p.month for p in self.partitions}
        out: list[date] = []
        month = self.first_month
        while month < self.last_month:
            if month not in have:
                out.append(month)
            month = add_months(month, 1)
        return out


def partition_summary(*, today: date | None = None) -> PartitionSummary:
    """The audit log's monthly partitions for the dashboard (one catalog query)."""
    partitions = list_partitions()
    current = month_start(today or timezone.now().date())
    have = {p.month for p in partitions}
    month = current
    while month in have:
        month = add_months(month, 1)
    ahead = 0
    while add_months(current, ahead + 1) in have:
        ahead += 1
    return PartitionSummary(
        partitions=partitions,
        first_month=partitions[0].month if partitions else None,
        last_month=partitions[-1].month if partitions else None,
        current_month=current,
        next_missing=month,
        months_ahead=ahead,
        detach_pending=[p.name for p in partitions if p.detach_pending],
        total_bytes=sum(p.size_bytes for p in partitions),
        row_estimate=sum(p.row_estimate for p in partitions),
    )
