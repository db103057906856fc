"""The audit log API: admins only, filters, cursor pagination, verify, statistics."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits.services import audit_record
from core.testing import assert_error


@pytest.fixture
def entries(db, regular_user):
    ids = [audit_record(entity="widget", action="create", actor=regular_user, payload={"n": n}) for n in range(7)]
    ids.append(audit_record(entity="gadget", action="delete", payload={}))
    return ids


@pytest.mark.parametrize("client_name", ["user_client", "viewer_client"])
def test_non_admins_are_refused(request, client_name, entries):
    client = request.getfixturevalue(client_name)
    assert_error(client.get("/api/v1/audit-log/"), 403, "permission_denied")
    assert_error(client.get("/api/v1/audit-log/verify"), 403, "permission_denied")
    assert_error(client.get("/api/v1/audit-log/statistics"), 403, "permission_denied")


def test_anonymous_is_401(anon_client):
    assert_error(anon_client.get("/api/v1/audit-log/"), 401, "not_authenticated")


def test_list_filters_and_cursor_pages(admin_client_api, entries, regular_user):
    response = admin_client_api.get(
        "/api/v1/audit-log/", {"entity": "widget", "actor": str(regular_user.pk), "page_size": 5}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert len(body["results"]) == 5 and all(r["entity"] == "widget" for r in body["results"])
    assert body["results"][0]["ts"] >= body["results"][-1]["ts"]
    second = admin_client_api.get(body["next"]).json()
    seen = {r["id"] for r in body["results"]} | {r["id"] for r in second["results"]}
    assert set(entries[:7]) <= seen


def test_time_window_filter(admin_client_api, entries):
    now = datetime.now(UTC)
    inside = admin_client_api.get(
        "/api/v1/audit-log/",
        {
            "entity": "gadget",
            "ts_after": (now - timedelta(minutes=5)).isoformat(),
            "ts_before": (now + timedelta(minutes=5)).isoformat(),
        },
    )
    assert [r["id"] for r in inside.json()["results"]] == [entries[-1]]
    outside = admin_client_api.get("/api/v1/audit-log/", {"entity": "gadget", "ts_before": "2000-01-01T00:00:00Z"})
    assert outside.json()["results"] == []


def test_bad_filter_values_are_400(admin_client_api):
    assert_error(admin_client_api.get("/api/v1/audit-log/", {"ts_after": "yesterday"}), 400, "validation_error")
    assert_error(admin_client_api.get("/api/v1/audit-log/", {"actor": "not-a-uuid"}), 400, "validation_error")


def test_list_costs_a_constant_number_of_queries(admin_client_api, entries):
    def count(size):
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client_api.get("/api/v1/audit-log/", {"page_size": size}).status_code == 200
        return len(ctx.captured_queries)

    count(1)  # warm-up: the first request of a session also stamps its last_used
    assert count(2) == count(8)


def test_verify_reports_ok(admin_client_api, entries, seal_in_transaction):
    seal_in_transaction()
    body = admin_client_api.get("/api/v1/audit-log/verify").json()
    assert body["ok"] is True and body["first_broken"] is None and body["checked"] >= len(entries)


def test_a_verification_past_the_statement_timeout_is_a_503_envelope(admin_client_api, entries, monkeypatch):
    from audits import verify

    def slow_walk(cursor, start_seq):
        cursor.execute("SET LOCAL statement_timeout = '50ms'")
        cursor.execute("SELECT pg_sleep(2)")
        yield from ()

    monkeypatch.setattr(verify, "_stream_chain", slow_walk)
    response = admin_client_api.get("/api/v1/audit-log/verify")
    error = assert_error(response, 503, "service_unavailable")
    assert "statement timeout" in error["message"] and response["Retry-After"] == "5"


def test_verify_names_a_tampered_entry(admin_client_api, entries, seal_in_transaction):
    seal_in_transaction()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audits.audit_log SET payload = '{}' WHERE id = %s", [entries[3]])
        cursor.execute("SET LOCAL session_replication_role = origin")
    body = admin_client_api.get("/api/v1/audit-log/verify").json()
    assert body["ok"] is False and body["first_broken"]["id"] == entries[3]


def test_statistics_counts_sealed_entries(admin_client_api, entries, seal_in_transaction):
    seal_in_transaction()
    body = admin_client_api.get("/api/v1/audit-log/statistics", {"entity": "widget"}).json()
    today = datetime.now(UTC).date().isoformat()
    rows = [r for r in body["results"] if r["day"] == today and r["action"] == "create"]
    assert rows and rows[0]["count"] >= 7


def test_writes_are_not_allowed(admin_client_api, entries):
    assert_error(admin_client_api.post("/api/v1/audit-log/", {}, format="json"), 405, "method_not_allowed")
    assert_error(admin_client_api.delete(f"/api/v1/audit-log/{entries[0]}/"), 405, "method_not_allowed")


def test_admin_pages_render_read_only(client, admin_user, entries):
    client.force_login(admin_user)
    page = client.get("/admin/audits/auditlogrow/")
    assert page.status_code == 200
    assert b"widget" in page.content
    assert client.get(f"/admin/audits/auditlogrow/{entries[0]}/change/").status_code == 200
    assert client.get("/admin/audits/auditlogrow/add/").status_code == 403
    assert client.post(f"/admin/audits/auditlogrow/{entries[0]}/delete/").status_code == 403
