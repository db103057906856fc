"""The v2 production zone (SPEC §5): analysis sessions that serve real code reviews with a
project's promoted configuration, their tasks (static, dynamic, graph, AI), the artifacts
they produce (reports, patches, logs, metrics) and code-review results.

Rows are written only through production.services (atomic, locked and audited); the
status machines and the rules below are also CHECK constraints, so a hand-written UPDATE
cannot leave a row the services could not have written."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Extract, Floor

from core.models import TimestampedModel, UUIDModel, choices_check
from projects.models import Tag


class SessionStatus(models.TextChoices):
    CREATED = "created", "Created"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Tuples, not sets: constraints built from them must render the same SQL on every run.
SESSION_TERMINAL = (SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED)
SESSION_OPEN = (SessionStatus.CREATED, SessionStatus.QUEUED, SessionStatus.RUNNING)

# created → queued → running → completed | failed; cancelled from any open state.
# Every other move answers 409 invalid_transition.
SESSION_MOVES: dict[str, frozenset[str]] = {
    SessionStatus.CREATED: frozenset({SessionStatus.QUEUED, SessionStatus.CANCELLED}),
    SessionStatus.QUEUED: frozenset({SessionStatus.RUNNING, SessionStatus.CANCELLED}),
    SessionStatus.RUNNING: frozenset({SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED}),
    SessionStatus.COMPLETED: frozenset(),
    SessionStatus.FAILED: frozenset(),
    SessionStatus.CANCELLED: frozenset(),
}


class TaskType(models.TextChoices):
    STATIC = "static", "Static analysis"
    DYNAMIC = "dynamic", "Dynamic analysis"
    GRAPH = "graph", "Graph analysis"
    AI = "ai", "AI review"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


TASK_TERMINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)
TASK_OPEN = (TaskStatus.PENDING, TaskStatus.RUNNING)

# pending → running → completed | failed | skipped; pending → skipped.
TASK_MOVES: dict[str, frozenset[str]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.SKIPPED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED}),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.SKIPPED: frozenset(),
}


class ArtifactType(models.TextChoices):
    REPORT = "report", "Report"
    PATCH = "patch", "Patch"
    LOG = "log", "Log"
    METRICS = "metrics", "Metrics"


# The database twin of production.validation.validate_storage_uri (which is stricter).
ARTIFACT_URI_REGEX = r"^(s3|gs|https)://[^/[:space:]]+/[^[:space:]]+$"


def duration_ms_expression():
    """Whole milliseconds from started_at to finished_at (floored), as PostgreSQL computes
    it: the service stores this and a CHECK constraint holds the column to it."""
    return Floor(Extract(models.F("finished_at") - models.F("started_at"), "epoch") * models.Value(1000))


class AnalysisSession(TimestampedModel):
    """One code analysis served by a project's zone (v2 by default) for a user, optionally
    through a catalog provider (whose quota is checked when the session is created).

    `started_at` is stamped when the session starts running (by hand, or by its first
    task starting), `finished_at` when it reaches a terminal status."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="analysis_sessions", db_index=False
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="analysis_sessions", db_index=False
    )
    version = models.CharField(max_length=2, choices=Tag.choices, default=Tag.V2)
    provider = models.ForeignKey(
        "providers.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="analysis_sessions",
        db_index=False,
    )
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.CREATED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "analysis_sessions"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Lists show newest first (created_at, then id) under a filter on one of these
            # columns: each index carries the whole order, so a page is read in order
            # without a sort. The user index also yields a user's session ids and
            # statuses without the table (per-user statistics, counts).
            models.Index(fields=["user", "-created_at", "-id"], include=["status"], name="analysis_sessions_user_idx"),
            # "My sessions with status S": the most common filtered list, and its count.
            models.Index(fields=["user", "status", "-created_at", "-id"], name="analysis_sessions_user_st_idx"),
            models.Index(fields=["project", "-created_at", "-id"], name="analysis_sessions_project_idx"),
            # A project's sessions with status S (its page and its count): the owner's
            # user_id is included so a user's count is read from the index alone.
            models.Index(
                fields=["project", "status", "-created_at", "-id"],
                include=["user"],
                name="analysis_sessions_proj_st_idx",
            ),
            models.Index(fields=["status", "-created_at", "-id"], name="analysis_sessions_status_idx"),
            models.Index(fields=["started_at"], name="analysis_sessions_started_idx"),
            # Unfiltered lists and the sessions-per-day statistics (index-only).
            models.Index(fields=["-created_at", "-id"], include=["status"], name="analysis_sessions_created_idx"),
            models.Index(fields=["provider"], name="analysis_sessions_provider_idx"),
        ]
        constraints = [
            choices_check("status", SessionStatus, "analysis_sessions"),
            choices_check("version", Tag, "analysis_sessions"),
            # Terminal exactly when finished; running (and completed or failed, which
            # only a running session reaches) implies started.
            models.CheckConstraint(
                condition=models.Q(status__in=SESSION_TERMINAL, finished_at__isnull=False)
                | models.Q(status__in=SESSION_OPEN, finished_at__isnull=True),
                name="analysis_sessions_finished_status_check",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=[SessionStatus.RUNNING, SessionStatus.COMPLETED, SessionStatus.FAILED])
                | models.Q(started_at__isnull=False),
                name="analysis_sessions_started_status_check",
            ),
            models.CheckConstraint(
                condition=models.Q(started_at__isnull=True)
                | models.Q(finished_at__isnull=True)
                | models.Q(finished_at__gte=models.F("started_at")),
                name="analysis_sessions_time_order_check",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in SESSION_TERMINAL


class AnalysisTask(TimestampedModel):
    """One step of a session. `duration_ms` is derived from started_at and finished_at
    when the task finishes (null for a task skipped before it ran)."""

    session = models.ForeignKey(AnalysisSession, on_delete=models.PROTECT, related_name="tasks", db_index=False)
    type = models.CharField(max_length=16, choices=TaskType.choices)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    result = models.JSONField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "analysis_tasks"
        ordering = ["created_at", "id"]
        indexes = [
            # A session's tasks, in creation order (the session detail), and the count of
            # its open tasks when one finishes.
            models.Index(fields=["session", "created_at"], include=["status"], name="analysis_tasks_session_idx"),
            # Tasks by status across sessions: the console's counts per status and its
            # status filter (a rare status would otherwise scan a million tasks).
            models.Index(fields=["status"], name="analysis_tasks_status_idx"),
            # Duration statistics per type over a time window (tasks that ran to an end),
            # index-only: a scan for the four types returns the window's rows grouped by
            # type, so no sort precedes the per-type percentiles; session_id lets a user's
            # figures join their sessions without reading the table.
            models.Index(
                fields=["type", "finished_at"],
                include=["duration_ms", "session"],
                name="analysis_tasks_duration_idx",
                condition=models.Q(status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED]),
            ),
        ]
        constraints = [
            choices_check("type", TaskType, "analysis_tasks"),
            choices_check("status", TaskStatus, "analysis_tasks"),
            models.CheckConstraint(
                condition=models.Q(status__in=TASK_TERMINAL, finished_at__isnull=False)
                | models.Q(status__in=TASK_OPEN, finished_at__isnull=True),
                name="analysis_tasks_finished_status_check",
            ),
            # pending has not started; running, completed and failed have (only skipped
            # may or may not have).
            models.CheckConstraint(
                condition=models.Q(status=TaskStatus.PENDING, started_at__isnull=True)
                | models.Q(status=TaskStatus.SKIPPED)
                | models.Q(
                    status__in=[TaskStatus.RUNNING, TaskStatus.COMPLETED, TaskStatus.FAILED], started_at__isnull=False
                ),
                name="analysis_tasks_started_status_check",
            ),
            models.CheckConstraint(
                condition=models.Q(started_at__isnull=True)
                | models.Q(finished_at__isnull=True)
                | models.Q(finished_at__gte=models.F("started_at")),
                name="analysis_tasks_time_order_check",
            ),
            # duration_ms is exactly the two timestamps' difference, or null without both.
            models.CheckConstraint(
                condition=models.Q(started_at__isnull=True, duration_ms__isnull=True)
                | models.Q(finished_at__isnull=True, duration_ms__isnull=True)
                | models.Q(started_at__isnull=False, finished_at__isnull=False, duration_ms=duration_ms_expression()),
                name="analysis_tasks_duration_derived_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} task {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TASK_TERMINAL


class Artifact(UUIDModel):
    """A file a session produced, stored outside the database (object storage): where it
    is, its SHA-256 and size, and when it may be deleted (`manage.py purge_expired`)."""

    session = models.ForeignKey(AnalysisSession, on_delete=models.PROTECT, related_name="artifacts", db_index=False)
    type = models.CharField(max_length=16, choices=ArtifactType.choices)
    s3_uri = models.CharField(max_length=2048)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "artifacts"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "created_at"], name="artifacts_session_idx"),
            # The purge reads only what expires; most artifacts may never do.
            models.Index(
                fields=["expires_at"], name="artifacts_expires_at_idx", condition=models.Q(expires_at__isnull=False)
            ),
        ]
        constraints = [
            choices_check("type", ArtifactType, "artifacts"),
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="artifacts_sha256_hex_check"
            ),
            models.CheckConstraint(condition=models.Q(size_bytes__gte=0), name="artifacts_size_nonnegative_check"),
            models.CheckConstraint(condition=models.Q(s3_uri__regex=ARTIFACT_URI_REGEX), name="artifacts_uri_check"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.s3_uri}"


class CodeReviewResult(UUIDModel):
    """The outcome of reviewing one piece of code in a session: its language and length,
    an overall score (0–100), counts of vulnerabilities and issues, the model used and
    how long the analysis took."""

    session = models.ForeignKey(AnalysisSession, on_delete=models.PROTECT, related_name="code_reviews", db_index=False)
    code_language = models.CharField(max_length=50)
    code_length = models.BigIntegerField()
    overall_score = models.DecimalField(max_digits=5, decimal_places=2)
    vulnerabilities_count = models.IntegerField(default=0)
    issues_count = models.IntegerField(default=0)
    model_used = models.CharField(max_length=200, blank=True, default="")
    analysis_time_ms = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "code_review_results"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["session", "created_at"], name="code_reviews_session_idx"),
            # Score distribution per language over a time window, index-only (session_id:
            # see analysis_tasks_duration_idx).
            models.Index(
                fields=["created_at"],
                include=["code_language", "overall_score", "session"],
                name="code_reviews_created_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overall_score__gte=0, overall_score__lte=100),
                name="code_review_results_score_range_check",
            ),
            models.CheckConstraint(
                condition=models.Q(vulnerabilities_count__gte=0, issues_count__gte=0, code_length__gte=0),
                name="code_review_results_counts_nonnegative_check",
            ),
            models.CheckConstraint(
                condition=models.Q(analysis_time_ms__isnull=True) | models.Q(analysis_time_ms__gte=0),
                name="code_review_results_time_nonnegative_check",
            ),
            # Languages are stored lower-case (the service normalizes): one group per language.
            models.CheckConstraint(
                condition=models.Q(code_language__regex=r"^[a-z0-9][a-z0-9+#._-]*$"),
                name="code_review_results_language_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code_language}: {self.overall_score}"
