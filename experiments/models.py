"""The v1 experimentation zone (SPEC §4): experiments and their status machine,
evaluations with the AI verdict and an optional human override, promotions to v2 under
four-eyes approval, the config blacklist, and v1-vs-v2 comparison reports.

Rows are written only through experiments.services (atomic and audited)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast, Coalesce

from core.models import TimestampedModel, UUIDModel, choices_check
from projects.models import Tag


class Status(models.TextChoices):
    CREATED = "created", "Created"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    EVALUATING = "evaluating", "Evaluating"
    PROMOTED = "promoted", "Promoted"
    QUARANTINED = "quarantined", "Quarantined"


# SPEC §4's status machine: every other move answers 409 invalid_transition.
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    Status.CREATED: frozenset({Status.RUNNING, Status.FAILED}),
    Status.RUNNING: frozenset({Status.COMPLETED, Status.FAILED}),
    Status.COMPLETED: frozenset({Status.EVALUATING}),
    Status.EVALUATING: frozenset({Status.PROMOTED, Status.QUARANTINED}),
    Status.FAILED: frozenset({Status.QUARANTINED}),
    Status.PROMOTED: frozenset(),
    Status.QUARANTINED: frozenset(),
}


def sources_of(to: str) -> list[str]:
    """The statuses from which `to` may be reached."""
    return sorted(frm for frm, tos in ALLOWED_MOVES.items() if to in tos)


class Verdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"
    MANUAL_REVIEW = "manual_review", "Manual review"


class HumanVerdict(models.TextChoices):
    PASS = "pass", "Pass"
    FAIL = "fail", "Fail"


class EvaluatedBy(models.TextChoices):
    AI = "ai", "AI"
    HUMAN = "human", "Human"


class PromotionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    COMPLETED = "completed", "Completed"


OPEN_PROMOTION = (PromotionStatus.PENDING, PromotionStatus.APPROVED)


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REVIEWED = "reviewed", "Reviewed"
    APPEALED = "appealed", "Appealed"


class Recommendation(models.TextChoices):
    PROMOTE = "promote", "Promote"
    KEEP = "keep", "Keep"
    REVIEW = "review", "Review"


class Experiment(TimestampedModel):
    """A model configuration tried in a project's v1 zone."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="experiments", db_index=False
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    version = models.CharField(max_length=2, choices=Tag.choices, default=Tag.V1)
    config = models.JSONField(default=dict)
    # The same config as JSON text in the user's key order (experiments.rules.config_text):
    # what the API and the console show. jsonb sorts object keys, so `config` stays
    # for what reads the value (search, promotion, quarantine); the hash is order-free.
    config_text = models.TextField()
    # SHA-256 of the config's canonical JSON (experiments.services.config_hash).
    config_hash = models.CharField(max_length=64)
    dataset_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="experiments", db_index=False
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "experiments"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Lists filter on one of these columns and show newest first: each index
            # carries created_at so the page is read in order, without a sort.
            models.Index(fields=["status", "-created_at"], name="experiments_status_idx"),
            models.Index(fields=["created_by", "-created_at"], name="experiments_created_by_idx"),
            models.Index(fields=["project", "-created_at"], name="experiments_project_idx"),
            # A project's list filtered by status (the API's common filter): without it the
            # project's index is walked past every row of the other statuses.
            models.Index(fields=["project", "status", "-created_at"], name="experiments_project_status_idx"),
            models.Index(fields=["dataset_id"], name="experiments_dataset_id_idx"),
            models.Index(fields=["-created_at"], name="experiments_created_at_idx"),
            models.Index(fields=["config_hash"], name="experiments_config_hash_idx"),
        ]
        constraints = [
            choices_check("status", Status, "experiments"),
            models.CheckConstraint(condition=models.Q(version=Tag.V1), name="experiments_version_v1_check"),
            models.CheckConstraint(
                condition=models.Q(config_hash__regex=r"^[0-9a-f]{64}$"), name="experiments_config_hash_hex_check"
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="experiments_name_not_empty_check"),
            # The text copy holds the same JSON value as `config` (only its key order may differ).
            models.CheckConstraint(
                condition=models.Q(config=Cast("config_text", models.JSONField())),
                name="experiments_config_text_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class Evaluation(UUIDModel):
    """Metrics submitted for an experiment, the AI verdict computed from them against the
    project's active baselines, and an optional human override.

    `effective_verdict` (an addition to SPEC's columns) is stored, and the database keeps
    it equal to COALESCE(human_override, ai_verdict). `checks` records the baselines the
    verdict was computed from, so a verdict stays explainable after baselines change."""

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="evaluations", db_index=False)
    metrics = models.JSONField(default=dict)
    ai_verdict = models.CharField(max_length=16, choices=Verdict.choices)
    ai_confidence = models.DecimalField(max_digits=5, decimal_places=4)
    checks = models.JSONField(default=list, blank=True)
    human_override = models.CharField(max_length=16, choices=HumanVerdict.choices, null=True, blank=True)
    override_reason = models.TextField(blank=True, default="")
    effective_verdict = models.CharField(max_length=16, choices=Verdict.choices)
    evaluated_by = models.CharField(max_length=8, choices=EvaluatedBy.choices, default=EvaluatedBy.AI)
    # Who submitted the metrics, then who overrode the verdict.
    evaluator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    evaluated_at = models.DateTimeField()

    class Meta:
        db_table = "evaluations"
        ordering = ["-created_at", "-id"]
        indexes = [
            # "Latest evaluation of experiment E" and the per-experiment list.
            models.Index(fields=["experiment", "-created_at"], name="evaluations_experiment_idx"),
            # Judge-vs-human agreement reads only the overridden ones.
            models.Index(
                fields=["experiment"],
                name="evaluations_overridden_idx",
                condition=models.Q(human_override__isnull=False),
            ),
        ]
        constraints = [
            choices_check("ai_verdict", Verdict, "evaluations"),
            choices_check("effective_verdict", Verdict, "evaluations"),
            choices_check("evaluated_by", EvaluatedBy, "evaluations"),
            models.CheckConstraint(
                condition=models.Q(human_override__isnull=True) | models.Q(human_override__in=HumanVerdict.values),
                name="evaluations_human_override_check",
            ),
            models.CheckConstraint(
                condition=models.Q(ai_confidence__gte=0) & models.Q(ai_confidence__lte=1),
                name="evaluations_ai_confidence_range_check",
            ),
            # An override always carries its reason and is recorded as a human evaluation.
            models.CheckConstraint(
                condition=models.Q(human_override__isnull=True, evaluated_by=EvaluatedBy.AI)
                | (
                    models.Q(human_override__isnull=False, evaluated_by=EvaluatedBy.HUMAN)
                    & ~models.Q(override_reason="")
                ),
                name="evaluations_override_reason_check",
            ),
            models.CheckConstraint(
                condition=models.Q(effective_verdict=Coalesce("human_override", "ai_verdict")),
                name="evaluations_effective_rule_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.experiment_id}: {self.effective_verdict}"


class Promotion(TimestampedModel):
    """A request to move an experiment's config from the project's v1 into its v2.
    pending → approved (an admin other than the requester) → completed; or → rejected."""

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="promotions", db_index=False)
    from_version = models.ForeignKey("projects.Version", on_delete=models.PROTECT, related_name="+", db_index=False)
    to_version = models.ForeignKey("projects.Version", on_delete=models.PROTECT, related_name="+", db_index=False)
    status = models.CharField(max_length=16, choices=PromotionStatus.choices, default=PromotionStatus.PENDING)
    reason = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The admin who approved (or rejected) the request.
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "promotions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["experiment"], name="promotions_experiment_idx"),
            models.Index(fields=["status", "-created_at"], name="promotions_status_idx"),
            models.Index(fields=["requested_by"], name="promotions_requested_by_idx"),
            models.Index(fields=["to_version"], name="promotions_to_version_idx"),
        ]
        constraints = [
            choices_check("status", PromotionStatus, "promotions"),
            # Four-eyes, as a last line behind the service's check.
            models.CheckConstraint(
                condition=~models.Q(approver=models.F("requested_by")), name="promotions_four_eyes_check"
            ),
            models.CheckConstraint(
                condition=models.Q(status=PromotionStatus.PENDING)
                | models.Q(approver__isnull=False, decided_at__isnull=False),
                name="promotions_decided_check",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=PromotionStatus.COMPLETED) | models.Q(promoted_at__isnull=False),
                name="promotions_completed_check",
            ),
            # At most one open request per experiment.
            models.UniqueConstraint(
                fields=["experiment"],
                condition=models.Q(status__in=OPEN_PROMOTION),
                name="promotions_one_open_per_experiment",
            ),
        ]

    def __str__(self) -> str:
        return f"promotion of {self.experiment_id} ({self.status})"


class Blacklist(TimestampedModel):
    """A config hash that may not run. Quarantining adds (or re-activates) the row; an
    approved re-evaluation with a passing result lifts it (`lifted_at`, an addition to
    SPEC's columns: the row is kept as history, the hash is blacklisted while it is null)."""

    config_hash = models.CharField(max_length=64, unique=True)
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    quarantined_at = models.DateTimeField()
    quarantined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    lift_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "blacklist"
        ordering = ["-quarantined_at"]
        verbose_name_plural = "blacklist"
        indexes = [
            models.Index(fields=["review_status"], name="blacklist_review_status_idx"),
            models.Index(fields=["-quarantined_at"], name="blacklist_quarantined_at_idx"),
        ]
        constraints = [
            choices_check("review_status", ReviewStatus, "blacklist"),
            models.CheckConstraint(
                condition=models.Q(config_hash__regex=r"^[0-9a-f]{64}$"), name="blacklist_config_hash_hex_check"
            ),
            models.CheckConstraint(
                condition=models.Q(lifted_at__isnull=True) | models.Q(lifted_at__gte=models.F("quarantined_at")),
                name="blacklist_lifted_after_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config_hash[:12]}… ({'lifted' if self.lifted_at else 'active'})"

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class ComparisonReport(UUIDModel):
    """v1 experiment vs the project's v2 version on one dataset: per-metric deltas and a
    recommendation computed by the server (experiments.services.comparison_compute)."""

    v1_experiment = models.ForeignKey(
        Experiment, on_delete=models.PROTECT, related_name="comparison_reports", db_index=False
    )
    v2_version = models.ForeignKey("projects.Version", on_delete=models.PROTECT, related_name="+", db_index=False)
    dataset_id = models.CharField(max_length=200, blank=True, default="")
    metrics = models.JSONField(default=dict)
    recommendation = models.CharField(max_length=16, choices=Recommendation.choices)
    confidence = models.DecimalField(max_digits=5, decimal_places=4)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        db_table = "comparison_reports"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["v1_experiment", "-created_at"], name="comparison_reports_exp_idx"),
            models.Index(fields=["v2_version"], name="comparison_reports_v2_idx"),
            models.Index(fields=["dataset_id"], name="comparison_reports_dataset_idx"),
        ]
        constraints = [
            choices_check("recommendation", Recommendation, "comparison_reports"),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0) & models.Q(confidence__lte=1),
                name="comparison_reports_confidence_range_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.v1_experiment_id} vs {self.v2_version_id}: {self.recommendation}"
