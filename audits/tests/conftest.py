import pytest


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
