"""Statistics of the production zone, computed by PostgreSQL (GROUP BY, percentile_cont) over a
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
Visibility: users get their own sessions' figures; admins and viewers everyone's. The
figures are read from session_list's queryset (production.selectors), which says who sees
which sessions; tasks and reviews reach it through their session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.postgres.fields import ArrayField
from django.db.models import Aggregate, Avg, Count, Exists, FloatField, Func, IntegerField, Max, Min, OuterRef, Value
from django.db.models.functions import Cast, Least, TruncDate
from django.utils import timezone

from core.exceptions import ValidationFailed
from production.models import AnalysisSession, AnalysisTask, CodeReviewResult, SessionStatus, TaskType
from production.selectors import sees_every_session, session_list

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 366
SCORE_BUCKETS = 10


class PercentileCont(Aggregate):
    """percentile_cont(fractions) WITHIN GROUP (ORDER BY expression): PostgreSQL's
    continuous percentile, linear between the closest ranks. `fractions` is SQL text
    written here (`0.5`, `ARRAY[0.5, 0.95]`), never input."""

    function = "percentile_cont"
    template = "%(function)s(%(fractions)s) WITHIN GROUP (ORDER BY %(expressions)s)"


def _score_bucket():
    """The histogram bucket of a review's score: 1..SCORE_BUCKETS (100 falls in the last)."""
    bucket = Func(
        Cast("overall_score", FloatField()),
        Value(0),
        Value(100),
        Value(SCORE_BUCKETS),
        function="width_bucket",
        output_field=IntegerField(),
    )
    return Least(bucket, Value(SCORE_BUCKETS))


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
    in_scope_sessions = AnalysisSession.objects.all() if everyone else session_list(user=user)
    if project is not None:
        in_scope_sessions = in_scope_sessions.filter(project_id=project)
    # Tasks and reviews reach the scope through their session; a scope that is the whole
    # table is left out, so their scans read the window's slice of one index.
    whole_table = project is None and (everyone or sees_every_session(user))
    in_scope = None if whole_table else Exists(in_scope_sessions.filter(pk=OuterRef("session_id")))

    session_rows = (
        in_scope_sessions.filter(created_at__gte=span.start, created_at__lt=span.end)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values_list("day", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    # `type IN (every type)` is no filter (a CHECK constraint allows no other value): it
    # lets the scan of analysis_tasks_duration_idx return the window's rows grouped by
    # type, so the per-type percentiles need no sort of the whole window first.
    window_tasks = AnalysisTask.objects.filter(
        type__in=TaskType.values,
        status__in=("completed", "failed"),
        finished_at__gte=span.start,
        finished_at__lt=span.end,
    )
    window_reviews = CodeReviewResult.objects.filter(created_at__gte=span.start, created_at__lt=span.end)
    if in_scope is not None:
        window_tasks, window_reviews = window_tasks.filter(in_scope), window_reviews.filter(in_scope)
    task_rows = (
        window_tasks.values_list("type")
        .annotate(
            n=Count("id"),
            mean=Avg("duration_ms"),
            percentiles=PercentileCont(
                "duration_ms", fractions="ARRAY[0.5, 0.95]", output_field=ArrayField(FloatField())
            ),
        )
        .order_by()
    )
    review_rows = (
        window_reviews.values_list("code_language")
        .annotate(
            n=Count("id"),
            mean=Avg("overall_score"),
            low=Min("overall_score"),
            high=Max("overall_score"),
            median=PercentileCont("overall_score", fractions="0.5", output_field=FloatField()),
        )
        .order_by("-n", "code_language")
    )
    # The histogram is its own (hashed) grouping: as ten FILTERed counts beside the
    # median it cost three times the rest of the query.
    bucket_rows = (
        window_reviews.annotate(bucket=_score_bucket()).values_list("code_language", "bucket").annotate(n=Count("id"))
    )
    bucket_counts = {(language, bucket): count for language, bucket, count in bucket_rows.order_by()}

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
        "scope": "all" if everyone or sees_every_session(user) else "own",
        "project": project,
        "sessions_per_day": sessions,
        "task_durations": tasks,
        "review_scores": reviews,
    }
