"""The sessions list rendered by PostgreSQL (core.api.lists) answers exactly what the
DRF path answers: same envelope, same rows in the same order, same keys, equal values,
for every role, filter, ordering and page; and it steps aside where it must."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from core.testing import (
    assert_error,
    assert_same_page,
    bearer_client,
    filter_by_statuses,
    page_and_list_query,
    sql_and_drf_pages,
)
from production.models import AnalysisSession
from production.tests.factories import make_session

URL = "/api/v1/analysis-sessions/"


@pytest.fixture
def sessions(project, regular_user, other_user, provider, make_user):
    from projects.tests.factories import make_project

    theirs = make_project(other_user)
    made = [
        make_session(regular_user, project, provider=provider, metadata={"pr": 7, "labels": ["ä", 'q"uote'], "f": 0.5}),
        make_session(regular_user, project, status="completed", metadata={"note": "line\nbreak\u2028sep"}),
        make_session(regular_user, project, status="failed"),
        make_session(regular_user, project, status="cancelled"),
        make_session(other_user, theirs, status="running"),
    ]
    # A whole second (no fraction), as DRF then writes it without one.
    AnalysisSession.objects.filter(pk=made[1].pk).update(created_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    return made


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin", "viewer", "other"])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "completed"},
        {"ordering": "status"},
        {"ordering": "-finished_at", "page_size": 2},
        {"ordering": "created_at", "page_size": 2, "page": 2},
        {"project": "PROJECT", "status": ["failed", "cancelled"]},
        {"created_after": "2026-01-01T00:00:00Z", "ordering": "created_at"},
    ],
)
def test_sql_rendered_page_equals_the_drf_page(role, params, sessions, project, monkeypatch, make_user, regular_user):
    user = regular_user if role == "user" else make_user("user" if role == "other" else role)
    client = bearer_client(user)
    params = {k: (str(project.pk) if v == "PROJECT" else v) for k, v in params.items()}
    sql, drf, sql_queries, drf_queries = sql_and_drf_pages(client, URL, params, monkeypatch)
    # After the session lookup, DRF counts and then reads the page (unless the page is
    # empty or out of range); the SQL path reads both in one query.
    assert sql_queries == 2 and drf_queries >= sql_queries
    page = assert_same_page(sql, drf)
    if role == "other" and params.get("page") == 2:  # nothing to see: no second page
        assert sql.status_code == 404
        return
    assert sql.status_code == 200
    if not params:
        assert page["count"] == {"admin": 5, "viewer": 5, "user": 4, "other": 0}[role]


@pytest.mark.django_db
def test_whole_seconds_and_json_values_survive(sessions, regular_user, monkeypatch):
    page = bearer_client(regular_user).get(URL, {"ordering": "created_at"}, HTTP_ACCEPT="application/json").json()
    rows = {row["id"]: row for row in page["results"]}
    assert rows[str(sessions[1].pk)]["created_at"] == "2026-03-01T12:00:00Z"
    assert rows[str(sessions[1].pk)]["metadata"] == {"note": "line\nbreak\u2028sep"}
    assert rows[str(sessions[0].pk)]["metadata"] == {"pr": 7, "labels": ["ä", 'q"uote'], "f": 0.5}
    assert rows[str(sessions[0].pk)]["provider"] == str(sessions[0].provider_id)


@pytest.mark.django_db
def test_steps_aside_for_html_and_other_time_zones(sessions, regular_user):
    client = bearer_client(regular_user)
    html = client.get(URL, HTTP_ACCEPT="text/html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    with timezone.override("Europe/Paris"):
        page = client.get(URL, {"ordering": "created_at"}, HTTP_ACCEPT="application/json")
    assert b'"id":' in page.content  # DRF's compact rendering, not PostgreSQL's
    assert page.json()["results"][0]["created_at"].endswith("+01:00")


@pytest.mark.django_db
def test_bad_page_and_bad_filter_keep_their_error_envelopes(sessions, regular_user):
    client = bearer_client(regular_user)
    assert_error(client.get(URL, {"page": 99}), 404, "not_found")
    assert_error(client.get(URL, {"status": "nope"}), 400, "validation_error")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["user", "admin", "viewer", "other"])
def test_sql_rendered_detail_equals_the_drf_detail(role, sessions, regular_user, make_user, monkeypatch):
    from production import services
    from production.tests.factories import make_task

    with_tasks = sessions[0]
    running = make_task(with_tasks, status="running")
    make_task(with_tasks, type="ai", status="completed")
    make_task(with_tasks, type="graph", status="failed")
    services.task_update(task=running, result={"findings": [1, 2.5, None], "ok": True}, actor=regular_user)
    user = regular_user if role == "user" else make_user("user" if role == "other" else role)
    client = bearer_client(user)
    for session in (with_tasks, sessions[1]):  # with tasks, without any
        url = f"{URL}{session.pk}/"
        sql, drf, sql_queries, drf_queries = sql_and_drf_pages(client, url, {}, monkeypatch)
        assert sql.status_code == drf.status_code == (404 if role == "other" else 200)
        assert sql.json() == drf.json()
        assert sql_queries == 2  # the session lookup, then the one query
        # DRF's path (HTML, another time zone) reads the session, then its tasks (a prefetch).
        assert drf_queries == (2 if role == "other" else 3)
        if role == "other":
            assert_error(sql, 404, "not_found")
            continue
        detail = sql.json()
        assert list(detail) == list(drf.json())
        assert b'"id" : ' in sql.content
        tasks = detail["tasks"]
        assert [list(task) for task in tasks] == [list(task) for task in drf.json()["tasks"]]
        if session is with_tasks:
            assert len(tasks) == 3
            assert tasks[0]["result"] == {"findings": [1, 2.5, None], "ok": True}
        else:
            assert tasks == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "last", "page_size": 3}, 200),  # needs the count first: the two-query path
        ({"page": 2, "page_size": 3}, 200),  # the last page, not full
        ({"page": 3, "page_size": 3}, 404),
        ({"page": 0}, 404),
        ({"page": "abc"}, 404),
        ({"page_size": 0}, 400),  # a page size outside 1..max_page_size is refused
        ({"page_size": 1000}, 400),
    ],
)
def test_page_numbers_behave_as_drf_pages_them(params, status, sessions, regular_user, monkeypatch):
    sql, drf, _, _ = sql_and_drf_pages(bearer_client(regular_user), URL, params, monkeypatch)
    assert sql.status_code == status
    if status == 400:
        assert assert_error(sql, 400, "validation_error") == assert_error(drf, 400, "validation_error")
        return
    page = assert_same_page(sql, drf)
    if status == 404:
        assert_error(sql, 404, "not_found")
    else:
        assert page["count"] == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "params", "from_tally"),
    [
        ("admin", {}, True),
        ("admin", {"status": "failed"}, True),
        ("viewer", {"status": ["failed", "running"]}, True),
        ("admin", {"status": "failed", "user": "ME"}, False),
        ("user", {"status": "failed"}, False),
    ],
)
def test_whole_table_lists_are_counted_from_the_status_tally(
    role, params, from_tally, sessions, regular_user, make_user
):
    user = regular_user if role == "user" else make_user(role)
    params = {k: (str(regular_user.pk) if v == "ME" else v) for k, v in params.items()}
    page, list_query = page_and_list_query(bearer_client(user), URL, params)
    assert ("analysis_sessions_status_tally" in list_query) is from_tally
    expected = filter_by_statuses(AnalysisSession.objects.all(), params.get("status"))
    if role == "user" or "user" in params:
        expected = expected.filter(user=regular_user)
    assert page["count"] == expected.count() == len(page["results"]) > 0
