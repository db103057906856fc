"""GET /analysis-sessions/statistics and the admin's statistics page: the SQL figures agree
with the same figures computed in Python from the rows, per role and window."""

import statistics as pystats
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.testing import assert_error
from production import services
from production.models import AnalysisSession, AnalysisTask, CodeReviewResult
from production.tests.factories import make_review, make_session, make_task

pytestmark = pytest.mark.django_db

URL = "/api/v1/analysis-sessions/statistics"


def percentile_cont(values, fraction):
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * fraction
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def at(day, hour=12, minute=0, second=0, micro=0):
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=UTC)


@pytest.fixture
def history(project, other_project, regular_user, other_user):
    """Sessions over three days (and one 40 days ago), tasks with known durations, reviews."""
    today = timezone.now().astimezone(UTC).date()
    days = [today - timedelta(days=2), today - timedelta(days=1), today]
    durations = {"static": [120, 340, 95], "ai": [2500, 1800], "graph": [60]}
    for index, day in enumerate(days):
        with time_machine.travel(at(day, 9), tick=False):
            mine = make_session(regular_user, project)
            make_session(regular_user, project, status="cancelled")
            make_session(other_user, other_project, status="queued")
        planned = [(kind, values[index]) for kind, values in durations.items() if index < len(values)]
        with time_machine.travel(at(day, 10), tick=False):
            tasks = [(make_task(mine, type=kind, status="running"), ms) for kind, ms in planned]
        for task, ms in tasks:  # the last one to finish finishes the session
            with time_machine.travel(at(day, 10) + timedelta(milliseconds=ms, microseconds=400), tick=False):
                to = "failed" if task.type == "graph" else "completed"
                services.task_update(task=task, status=to, actor=regular_user)
        with time_machine.travel(at(day, 11), tick=False):
            make_review(mine, code_language="python", overall_score=[55, 90, 100][index])
            make_review(mine, code_language="go", overall_score=[12.5, 70, 71][index])
    with time_machine.travel(at(today - timedelta(days=40)), tick=False):
        old = make_session(regular_user, project)
        make_task(old, status="completed")
        make_review(old, code_language="python", overall_score=1)
    return {"days": days, "today": today}


def expected_figures(sessions, tasks, reviews):
    per_day = Counter((s.created_at.astimezone(UTC).date(), s.status) for s in sessions)
    by_type = {}
    for t in tasks:
        if t.status in ("completed", "failed"):
            by_type.setdefault(t.type, []).append(t.duration_ms)
    by_language = {}
    for r in reviews:
        by_language.setdefault(r.code_language, []).append(r.overall_score)
    return per_day, by_type, by_language


def check_against_rows(body, sessions, tasks, reviews):
    per_day, by_type, by_language = expected_figures(sessions, tasks, reviews)
    for row in body["sessions_per_day"]:
        day = datetime.fromisoformat(row["day"]).date()
        for status, count in row["by_status"].items():
            assert count == per_day.get((day, status), 0), (day, status)
        assert row["total"] == sum(row["by_status"].values())
    assert sum(row["total"] for row in body["sessions_per_day"]) == sum(per_day.values())
    for row in body["task_durations"]:
        values = by_type.get(row["type"], [])
        assert row["count"] == len(values)
        if values:
            assert row["mean_ms"] == round(pystats.fmean(values), 2)
            assert row["p50_ms"] == round(percentile_cont(values, 0.5), 2)
            assert row["p95_ms"] == round(percentile_cont(values, 0.95), 2)
        else:
            assert row["mean_ms"] is row["p95_ms"] is None
    assert {row["language"] for row in body["review_scores"]} == set(by_language)
    for row in body["review_scores"]:
        scores = by_language[row["language"]]
        assert row["count"] == len(scores)
        assert row["mean"] == round(float(sum(scores) / len(scores)), 2)
        assert row["median"] == round(float(percentile_cont([float(s) for s in scores], 0.5)), 2)
        assert (row["min"], row["max"]) == (float(min(scores)), float(max(scores)))
        histogram = Counter(min(int(s // 10), 9) for s in scores)
        assert [b["count"] for b in row["buckets"]] == [histogram.get(i, 0) for i in range(10)]
        assert [(b["from"], b["to"]) for b in row["buckets"]] == [(i * 10, i * 10 + 10) for i in range(10)]


def window_rows(start, end, **session_filter):
    sessions = list(AnalysisSession.objects.filter(created_at__gte=start, created_at__lt=end, **session_filter))
    tasks = list(
        AnalysisTask.objects.filter(
            finished_at__gte=start, finished_at__lt=end, **{f"session__{k}": v for k, v in session_filter.items()}
        )
    )
    reviews = list(
        CodeReviewResult.objects.filter(
            created_at__gte=start, created_at__lt=end, **{f"session__{k}": v for k, v in session_filter.items()}
        )
    )
    return sessions, tasks, reviews


def test_default_window_for_admins_and_viewers(history, admin_client_api, viewer_client):
    today = history["today"]
    body = admin_client_api.get(URL).json()
    assert body["scope"] == "all" and body["date_to"] == today.isoformat()
    assert body["date_from"] == (today - timedelta(days=29)).isoformat()
    assert len(body["sessions_per_day"]) == 30 and body["sessions_per_day"][-1]["day"] == today.isoformat()
    start = at(today - timedelta(days=29), 0)
    check_against_rows(body, *window_rows(start, start + timedelta(days=30)))
    assert {row["type"] for row in body["task_durations"]} == {"static", "dynamic", "graph", "ai"}
    # And from the inputs themselves: static tasks ran 120, 340 and 95 ms (plus 0.4 ms, floored).
    static = next(row for row in body["task_durations"] if row["type"] == "static")
    assert (static["count"], static["mean_ms"]) == (3, round((120 + 340 + 95) / 3, 2))
    assert static["p95_ms"] == round(percentile_cont([120, 340, 95], 0.95), 2)
    python = next(row for row in body["review_scores"] if row["language"] == "python")
    assert (python["count"], python["min"], python["max"]) == (3, 55.0, 100.0)
    assert python["buckets"][9]["count"] == 2  # 90 and 100 share the last bucket
    assert viewer_client.get(URL).json() == body


def test_users_get_their_own_figures(history, user_client, other_user_client, regular_user, other_user):
    today = history["today"]
    start = at(today - timedelta(days=29), 0)
    mine = user_client.get(URL).json()
    assert mine["scope"] == "own"
    check_against_rows(mine, *window_rows(start, start + timedelta(days=30), user=regular_user))
    theirs = other_user_client.get(URL).json()
    check_against_rows(theirs, *window_rows(start, start + timedelta(days=30), user=other_user))
    assert theirs["task_durations"][0]["count"] == 0 and theirs["review_scores"] == []


def test_explicit_window_and_project(history, admin_client_api, project):
    day = history["days"][1]
    body = admin_client_api.get(f"{URL}?date_from={day}&date_to={day}&project={project.pk}").json()
    assert [row["day"] for row in body["sessions_per_day"]] == [day.isoformat()]
    assert body["project"] == str(project.pk)
    check_against_rows(body, *window_rows(at(day, 0), at(day, 0) + timedelta(days=1), project=project))
    old = history["today"] - timedelta(days=40)
    body = admin_client_api.get(f"{URL}?date_from={old}&date_to={old}").json()
    assert body["sessions_per_day"][0]["total"] == 1 and body["review_scores"][0]["count"] == 1


def test_window_refusals(admin_client_api, anon_client):
    assert_error(admin_client_api.get(f"{URL}?date_from=2026-02-01&date_to=2026-01-01"), 400, "validation_error")
    assert_error(admin_client_api.get(f"{URL}?date_from=2024-01-01&date_to=2026-01-01"), 400, "validation_error")
    assert_error(admin_client_api.get(f"{URL}?date_from=yesterday"), 400, "validation_error")
    assert_error(admin_client_api.get(f"{URL}?project=nope"), 400, "validation_error")
    assert_error(anon_client.get(URL), 401, "not_authenticated")
    assert admin_client_api.get(f"{URL}?date_from=2025-01-01&date_to=2026-01-01").status_code == 200  # 366 days


def test_statistics_cost_a_constant_number_of_queries(history, admin_client_api, project, regular_user):
    admin_client_api.get(URL)
    with CaptureQueriesContext(connection) as few:
        admin_client_api.get(URL)
    session = make_session(regular_user, project)
    tasks = [make_task(session, type=kind, status="running") for kind in ("static", "ai", "graph")]
    for task in tasks:
        services.task_update(task=task, status="completed", actor=regular_user)
    make_review(session, code_language="rust", overall_score=Decimal("66.6"))
    with CaptureQueriesContext(connection) as many:
        body = admin_client_api.get(URL).json()
    assert len(few.captured_queries) == len(many.captured_queries)
    assert "rust" in {row["language"] for row in body["review_scores"]}
