"""Reads of the audit log. Time filters always reach SQL as literal bounds on ts, so
PostgreSQL prunes the monthly partitions outside them."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from audits.models import AuditLogRow, Statistic, Verification


def audit_log_list() -> QuerySet[AuditLogRow]:
    return AuditLogRow.objects.all()


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
        cursor.execute("SELECT count(*), min(ts) FROM audits.audit_log WHERE chain_seq IS NULL")
        pending, oldest = cursor.fetchone()
    return {
        "head_seq": head[0] if head else 0,
        "head_id": head[1] if head else None,
        "head_ts": head[2] if head else None,
        "pending": pending,
        "oldest_pending_ts": oldest,
    }
