import pytest
from django.db import connection

from audits import chain


@pytest.fixture
def seal_in_transaction():
    """Seal pending entries inside the current (test) transaction, as the sequencer would
    after commit. Non-transactional tests roll everything back, so tampering stays local."""

    def seal() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [chain.SEQUENCER_LOCK])
            total = 0
            while done := chain._seal_batch(chain.DEFAULT_BATCH):
                total += done
            return total

    return seal


@pytest.fixture
def unused_old_month(db):
    """A month long past that has no partition yet (the test database is reused between runs)."""
    from datetime import date

    from audits import partitions

    existing = {p.month for p in partitions.list_partitions()}
    month = date(1999, 12, 1)
    while month in existing:
        month = partitions.add_months(month, -1)
    return month
