"""The v3 quarantine zone (SPEC §6): a read-only archive of failed configurations, and
re-evaluation requests, the only way a quarantined configuration comes back.

The content columns of a quarantine record can never change and records are never
deleted: database triggers (migration 0002) refuse it, whatever the client. Rows are
written only through quarantine.services (atomic and audited)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Cast

from core.models import TimestampedModel, choices_check


class RecordStatus(models.TextChoices):
    QUARANTINED = "quarantined", "Quarantined"
    UNDER_REVIEW = "under_review", "Under review"
    APPROVED_RETRY = "approved_retry", "Approved for retry"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    COMPLETED = "completed", "Completed"


OPEN_REQUEST = (RequestStatus.PENDING, RequestStatus.APPROVED)

# Columns the immutability trigger guards (kept in step with migration 0002).
CONTENT_COLUMNS = (
    "id",
    "experiment_id",
    "config_hash",
    "config",
    "config_text",
    "reason",
    "evidence",
    "failure_metrics",
    "quarantined_at",
    "quarantined_by_id",
    "created_at",
)


class QuarantineRecord(TimestampedModel):
    """The archived configuration of a failed experiment. One per config hash: when a
    config that was approved for retry fails again, its record returns to `quarantined`
    (the review columns change; the content never does)."""

    experiment = models.ForeignKey(
        "experiments.Experiment", on_delete=models.PROTECT, related_name="quarantine_records", db_index=False
    )
    config_hash = models.CharField(max_length=64, unique=True)
    config = models.JSONField()
    # The experiment's config_text: the config in its author's key order, as shown (jsonb
    # `config` sorts keys). The same value as `config`, checked by the database.
    config_text = models.TextField()
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    failure_metrics = models.JSONField(default=dict, blank=True)
    quarantined_at = models.DateTimeField()
    quarantined_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    review_status = models.CharField(max_length=16, choices=RecordStatus.choices, default=RecordStatus.QUARANTINED)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    review_notes = models.TextField(blank=True, default="")

    class Meta:
        db_table = "quarantine_records"
        ordering = ["-quarantined_at", "-id"]
        indexes = [
            models.Index(fields=["review_status", "-quarantined_at"], name="quarantine_records_status_idx"),
            models.Index(fields=["-quarantined_at"], name="quarantine_records_q_at_idx"),
        ]
        constraints = [
            choices_check("review_status", RecordStatus, "quarantine_records"),
            models.CheckConstraint(
                condition=models.Q(config=Cast("config_text", models.JSONField())),
                name="quarantine_records_config_text_check",
            ),
            # Also the experiment index: an experiment is quarantined at most once.
            models.UniqueConstraint(fields=["experiment"], name="quarantine_records_experiment_uniq"),
            models.CheckConstraint(
                condition=models.Q(config_hash__regex=r"^[0-9a-f]{64}$"),
                name="quarantine_records_config_hash_hex_check",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.config_hash[:12]}… ({self.review_status})"


class ReevaluationRequest(TimestampedModel):
    """A request to look at a quarantined configuration again.
    pending → approved (admin; the record goes under_review) → completed with a result
    (pass: the record is approved_retry and the blacklist row lifted; fail: back to
    quarantined); or pending → rejected."""

    quarantine_record = models.ForeignKey(
        QuarantineRecord, on_delete=models.PROTECT, related_name="reevaluations", db_index=False
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reason = models.TextField()
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    decision_notes = models.TextField(blank=True, default="")
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        db_table = "reevaluation_requests"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["quarantine_record", "-created_at"], name="reevaluation_requests_rec_idx"),
            models.Index(fields=["status", "-created_at"], name="reevaluation_requests_st_idx"),
            models.Index(fields=["requested_by"], name="reevaluation_requests_by_idx"),
        ]
        constraints = [
            choices_check("status", RequestStatus, "reevaluation_requests"),
            models.UniqueConstraint(
                fields=["quarantine_record"],
                condition=models.Q(status__in=OPEN_REQUEST),
                name="reevaluation_requests_one_open_per_record",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[RequestStatus.PENDING, RequestStatus.REJECTED])
                | models.Q(approved_by__isnull=False, approved_at__isnull=False),
                name="reevaluation_requests_approved_check",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=RequestStatus.COMPLETED)
                | models.Q(completed_at__isnull=False, result__isnull=False),
                name="reevaluation_requests_completed_check",
            ),
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("requested_by")),
                name="reevaluation_requests_four_eyes_check",
            ),
        ]

    def __str__(self) -> str:
        return f"re-evaluation of {self.quarantine_record_id} ({self.status})"
