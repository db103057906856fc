"""Partition upkeep: ahead creation, idempotence, retention that keeps the chain verifiable."""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import transaction

from audits import partitions
from audits.chain import chain_pending
from audits.models import AuditEntry
from audits.services import audit_record
from audits.upkeep import partitions_maintain
from audits.verify import verify_chain


@pytest.mark.django_db(transaction=True)
def test_ahead_creation_is_idempotent(capsys):
    today = datetime.now(UTC).date()
    partitions_maintain(ahead=6, today=today)
    names = {p.name for p in partitions.list_partitions()}
    assert {
        f"audit_log_{m.year}_{m.month:02d}"
        for m in (partitions.add_months(partitions.month_start(today), k) for k in range(7))
    } <= names
    second = partitions_maintain(ahead=6, today=today)
    assert second.created == [] and second.dropped == []
    call_command("audit_partitions", "--ahead", "6", "--dry-run")
    out = capsys.readouterr().out
    assert "audit partitions: 0 would be created, 0 would be dropped" in out


@pytest.mark.django_db(transaction=True)
def test_retention_drops_old_months_and_the_chain_still_verifies(unused_old_month):
    months = [partitions.add_months(unused_old_month, -k) for k in (2, 1, 0)]
    names = {partitions.partition_name(m) for m in months}
    run = datetime.now(UTC).isoformat()
    for month in months:
        with transaction.atomic():
            for n in range(3):
                audit_record(
                    entity="retention",
                    action="old",
                    payload={"n": n, "run": run},
                    ts=datetime(month.year, month.month, 10, tzinfo=UTC),
                )
    with transaction.atomic():
        audit_record(entity="retention", action="recent", payload={})
    chain_pending(wait=True)
    assert verify_chain().ok

    today = datetime.now(UTC).date()
    # Everything before the year 2000 is past retention.
    retain = (today.year - 2000) * 12 + today.month - 1
    dry = partitions_maintain(ahead=0, retain_months=retain, dry_run=True)
    assert names <= set(dry.dropped)
    assert names <= {p.name for p in partitions.list_partitions()}

    report = partitions_maintain(ahead=0, retain_months=retain)
    assert names <= set(report.dropped)
    assert not {p.name for p in partitions.list_partitions()} & names
    assert not AuditEntry.objects.filter(entity="retention", action="old", payload__run=run).exists()
    middle = partitions.partition_name(months[1])
    checkpoint = (
        AuditEntry.objects.filter(entity="audit_log", action="partition_dropped", payload__partition=middle)
        .order_by("-id")
        .first()
    )
    assert checkpoint.payload["rows"] == 3 and checkpoint.payload["runs"]

    result = verify_chain()
    assert result.ok, result.as_dict()
    again = partitions_maintain(ahead=0, retain_months=retain)
    assert again.dropped == []


def test_retain_months_must_be_positive():
    with pytest.raises(ValueError):
        partitions_maintain(retain_months=0)
