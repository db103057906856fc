"""The change lists of tables that grow without bound never count or scan them whole on
page load: the page count is the planner's estimate, the date hierarchy comes from the
date range, filters list small tables, nothing sorts by an unindexed column."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.admin_paginator import EstimatedCountPaginator
from core.testing import registered_model_admins

pytestmark = pytest.mark.django_db

BIG = sorted(
    (model_admin for _, model_admin in registered_model_admins() if getattr(model_admin, "big_table", False)),
    key=lambda a: a.opts.label,
)


def test_the_big_tables_are_marked():
    labels = {a.opts.label for a in BIG}
    assert {
        "audits.AuditLogRow",
        "providers.UsageTracking",
        "accounts.SecurityEvent",
        "accounts.Session",
        "accounts.User",
        "experiments.Experiment",
        "experiments.Evaluation",
        "projects.VersionHistory",
    } <= labels


@pytest.mark.parametrize("model_admin", BIG, ids=lambda a: a.opts.label)
def test_a_big_change_list_never_counts_or_scans_the_table(superuser_console, world, model_admin, monkeypatch):
    # As if the table were huge: the estimate is always used.
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 0)
    table = model_admin.opts.db_table
    url = reverse(f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_changelist")
    for query_string in ("", "?q=someone@example.com", "?o=1"):
        with CaptureQueriesContext(connection) as queries:
            response = superuser_console.get(url + query_string)
        assert response.status_code == 200
        for query in queries.captured_queries:
            sql = query["sql"]
            if f'"{table}"' not in sql and f"audits.{table}" not in sql:
                continue
            assert not re.search(r"\bCOUNT\(", sql, re.I) or sql.startswith("EXPLAIN"), sql
            assert "DISTINCT" not in sql.upper(), sql
        assert "Show counts" not in response.content.decode()
    assert model_admin.show_full_result_count is False


def test_the_audit_log_filters_list_the_statistics_not_the_log(superuser_console, world):
    with CaptureQueriesContext(connection) as queries:
        response = superuser_console.get(reverse("admin:audits_auditlogrow_changelist"))
    assert response.status_code == 200
    distinct = [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()]
    assert distinct and all('"statistics"' in sql for sql in distinct)
    assert "console_test" in response.content.decode()  # a value from the statistics, offered as a filter


def test_the_date_hierarchy_drills_down_without_scanning(superuser_console, world):
    from django.utils import timezone

    today = timezone.now()
    url = reverse("admin:audits_auditlogrow_changelist")
    for params in (
        {},
        {"ts__year": today.year},
        {"ts__year": today.year, "ts__month": today.month},
        {"ts__year": today.year, "ts__month": today.month, "ts__day": today.day},
    ):
        with CaptureQueriesContext(connection) as queries:
            response = superuser_console.get(url, params)
        assert response.status_code == 200
        assert not any("DATE_TRUNC" in q["sql"].upper() for q in queries.captured_queries), params
    assert response.context["cl"].result_count >= 1
