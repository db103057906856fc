"""Indexes the console relies on beyond SPEC's list."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_the_sign_up_date_range_comes_from_an_index():
    # What the console's date hierarchy on the user list asks first: the first and last
    # sign-up dates. With an index that is two probes, not a scan of every user.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT min(created_at), max(created_at) FROM accounts.users")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "users_created_at_idx" in plan, plan
