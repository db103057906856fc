import json

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_dbstats_json_has_every_section(capsys, regular_user):
    call_command("dbstats", "--json")
    stats = json.loads(capsys.readouterr().out)
    assert set(stats) == {
        "database_bytes",
        "schemas",
        "tables",
        "partitions",
        "indexes",
        "connections",
        "longest_queries",
    }
    assert stats["database_bytes"] > 0
    assert {"accounts", "audits", "public"} <= {s["schema"] for s in stats["schemas"]}
    tables = {(t["schema"], t["table"]) for t in stats["tables"]}
    assert ("accounts", "users") in tables
    assert any(p["parent"] == "audit_log" and p["bounds"].startswith("FOR VALUES FROM") for p in stats["partitions"])
    assert all({"index", "scans", "unused"} <= set(i) for i in stats["indexes"])
    assert stats["connections"]["total"] >= 1


@pytest.mark.django_db
def test_dbstats_text_report(capsys):
    call_command("dbstats", "--top", "3")
    out = capsys.readouterr().out
    for heading in (
        "database:",
        "connections:",
        "schemas:",
        "tables (top 3",
        "partitions:",
        "indexes:",
        "longest running queries:",
    ):
        assert heading in out


@pytest.mark.django_db(transaction=True)
def test_a_table_never_analysed_is_estimated_by_its_live_rows():
    from django.db import connection

    from core.db.stats import table_stats

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE accounts.dbstats_never_analysed (n int) WITH (autovacuum_enabled = off)")
        try:
            cursor.execute("INSERT INTO accounts.dbstats_never_analysed SELECT generate_series(1, 25)")
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT 1")  # the flush happens when this transaction ends
            row = next(t for t in table_stats() if t["table"] == "dbstats_never_analysed")
            assert row["row_estimate"] == 25
        finally:
            cursor.execute("DROP TABLE accounts.dbstats_never_analysed")
