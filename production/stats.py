"""Statistics of the production zone, computed in SQL (GROUP BY, percentile_cont) over a
bounded window of UTC days, for the API (`GET /analysis-sessions/statistics`) and the
admin's statistics page.

- sessions per creation day and status;
- task durations per type (count, mean, median, p95) of the tasks that ran to an end
  (completed or failed) and finished in the window;
- code-review scores per language (count, mean, median, min, max, and a histogram of ten
  buckets of width 10; 100 falls in the last one) of the results created in the window.

Four queries; each reads the window's slice of one covering index.

The window defaults to the last DEFAULT_WINDOW_DAYS days (today included) and may span at
most MAX_WINDOW_DAYS days, so one request reads a bounded slice of each table, through
indexes that hold every column it needs (index-only scans; see production.models).
Visibility: users get their own sessions' figures; admins and viewers everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db import connections, router
from django.utils import timezone

from core.exceptions import ValidationFailed
from production.models import AnalysisSession, SessionStatus, TaskType
from production.selectors import visible_sessions_filter

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
SCORE_BUCKETS = 10

_SESSIONS_SQL = """
SELECT (s.created_at AT TIME ZONE 'UTC')::date AS day, s.status, count(*)
FROM analysis_sessions s
WHERE s.created_at >= %(start)s AND s.created_at < %(end)s {scope}
GROUP BY 1, 2
"""

# `type IN (every type)` is no filter (a CHECK constraint allows no other value): it lets
# the scan of analysis_tasks_duration_idx return the window's rows grouped by type, so
# the per-type percentiles need no sort of the whole window first.
_TASKS_SQL = f"""
SELECT t.type, count(*), avg(t.duration_ms),
       percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY t.duration_ms)
FROM analysis_tasks t
WHERE t.type IN ({", ".join(f"'{kind}'" for kind in TaskType.values)})
  AND t.status IN ('completed', 'failed') AND t.finished_at >= %(start)s AND t.finished_at < %(end)s
  {{scope}}
GROUP BY t.type
"""

_REVIEWS_SQL = """
SELECT r.code_language, count(*), avg(r.overall_score), min(r.overall_score), max(r.overall_score),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.overall_score)
FROM code_review_results r
WHERE r.created_at >= %(start)s AND r.created_at < %(end)s {scope}
GROUP BY r.code_language
ORDER BY count(*) DESC, r.code_language
"""

# The histogram is its own (hashed) grouping: as ten FILTERed counts beside the median it
# cost three times the rest of the query.
_SCORE_BUCKETS_SQL = f"""
SELECT r.code_language, LEAST(width_bucket(r.overall_score::float8, 0, 100, {SCORE_BUCKETS}), {SCORE_BUCKETS}),
       count(*)
FROM code_review_results r
WHERE r.created_at >= %(start)s AND r.created_at < %(end)s {{scope}}
GROUP BY 1, 2
"""


@dataclass(frozen=True)
class Window:
    date_from: date
    date_to: date  # inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1


def window(date_from: date | None = None, date_to: date | None = None) -> Window:
    """The statistics window: given days, or the last DEFAULT_WINDOW_DAYS days."""
    today = timezone.now().astimezone(UTC).date()
    if date_to is None:
        date_to = max(today, date_from) if date_from else today
    if date_from is None:
        date_from = date_to - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
    if date_from > date_to:
        raise ValidationFailed.field("date_from", "Must not be after date_to.")
    span = Window(date_from, date_to)
    if span.days > MAX_WINDOW_DAYS:
        raise ValidationFailed.field("date_from", f"The window spans at most {MAX_WINDOW_DAYS} days.")
    return span


def _round(value, digits: int = 2):
    return None if value is None else round(float(value), digits)


def session_statistics(
    *, user, date_from: date | None = None, date_to: date | None = None, project=None, everyone: bool = False
) -> dict:
    """The three figures over the window, for what `user` may see (optionally one
    project). `everyone=True` (the admin console, which checks its own permissions)
    counts every session."""
    span = window(date_from, date_to)
    visible = {} if everyone else visible_sessions_filter(user)
    params: dict = {"start": span.start, "end": span.end}
    conditions = []
    if visible is None:
        conditions.append("AND FALSE")
    elif visible:
        conditions.append("AND s.user_id = %(user)s")
        params["user"] = visible["user_id"]
    if project is not None:
        conditions.append("AND s.project_id = %(project)s")
        params["project"] = project
    session_scope = " ".join(conditions)
    # Tasks and reviews reach the scope through their session.
    child_scope = (
        f"AND EXISTS (SELECT 1 FROM analysis_sessions s WHERE s.id = {{alias}}.session_id {session_scope})"
        if conditions
        else ""
    )
    connection = connections[router.db_for_read(AnalysisSession)]
    with connection.cursor() as cursor:
        cursor.execute(_SESSIONS_SQL.format(scope=session_scope), params)
        session_rows = cursor.fetchall()
        cursor.execute(_TASKS_SQL.format(scope=child_scope.format(alias="t")), params)
        task_rows = cursor.fetchall()
        cursor.execute(_REVIEWS_SQL.format(scope=child_scope.format(alias="r")), params)
        review_rows = cursor.fetchall()
        cursor.execute(_SCORE_BUCKETS_SQL.format(scope=child_scope.format(alias="r")), params)
        bucket_counts = {(language, bucket): count for language, bucket, count in cursor.fetchall()}

    per_day: dict[date, dict[str, int]] = {}
    for day, status, count in session_rows:
        per_day.setdefault(day, {})[status] = count
    sessions = []
    for offset in range(span.days):
        day = span.date_from + timedelta(days=offset)
        counts = per_day.get(day, {})
        by_status = {status: counts.get(status, 0) for status in SessionStatus.values}
        sessions.append({"day": day, "total": sum(by_status.values()), "by_status": by_status})

    durations = {row[0]: row[1:] for row in task_rows}
    tasks = []
    for kind in TaskType.values:
        count, mean, percentiles = durations.get(kind, (0, None, None))
        p50, p95 = percentiles or (None, None)
        tasks.append(
            {"type": kind, "count": count, "mean_ms": _round(mean), "p50_ms": _round(p50), "p95_ms": _round(p95)}
        )

    width = 100 // SCORE_BUCKETS
    reviews = []
    for language, count, mean, low, high, median in review_rows:
        buckets = [bucket_counts.get((language, i), 0) for i in range(1, SCORE_BUCKETS + 1)]
        reviews.append(
            {
                "language": language,
                "count": count,
                "mean": _round(mean),
                "median": _round(median),
                "min": _round(low),
                "max": _round(high),
                "buckets": [{"from": i * width, "to": (i + 1) * width, "count": n} for i, n in enumerate(buckets)],
            }
        )
    return {
        "date_from": span.date_from,
        "date_to": span.date_to,
        "scope": "all" if visible == {} else "own",
        "project": project,
        "sessions_per_day": sessions,
        "task_durations": tasks,
        "review_scores": reviews,
    }
