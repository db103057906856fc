"""The legacy import's memory: which legacy record became which Tristate row.

One row per legacy record the importer applied (or found already present under its
natural key), keyed by (kind, legacy key). It is what makes `import_legacy` idempotent
and resumable: a batch writes its domain rows and their map rows in one transaction, so
after a crash every record is either fully imported and mapped, or not at all."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.models import choices_check


class RecordKind(models.TextChoices):
    """Kinds of legacy records, by their identity in the export (FORMAT.md)."""

    USER = "user", "User (by e-mail)"
    SETTINGS = "settings", "User settings (by e-mail)"
    POLICY = "policy", "Policy (by name)"
    PROJECT = "project", "Project (by slug)"
    EXPERIMENT = "experiment", "Experiment (by legacy id)"
    QUARANTINE = "quarantine", "Quarantine record (by experiment legacy id)"
    ANALYSIS = "analysis", "Analysis (by analysis id)"
    PROVIDER_KEY = "provider_key", "Provider key (by e-mail and provider type)"
    USAGE = "usage", "Usage line (by file and line)"
    AUDIT = "audit", "Audit event (by legacy id)"


class LegacyRecord(models.Model):
    """A legacy record applied by the import, and the Tristate row it became.

    `digest` (SHA-256 of the record's canonical JSON, first 128 bits) tells a re-run of
    the same record ("already present") from another record under the same key (a
    conflict, reported as a reject). `target_id` is the row's UUID, `audit_id` the audit
    log entry of an imported legacy audit event; usage lines add into counters and map to
    nothing."""

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=RecordKind.choices)
    key = models.TextField()
    digest = models.CharField(max_length=32)
    target_id = models.UUIDField(null=True, blank=True)
    audit_id = models.BigIntegerField(null=True, blank=True)
    # Where the record was read: "<file relative to the export>:<line>".
    source = models.TextField()
    imported_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "legacy_records"
        ordering = ["kind", "key"]
        verbose_name = "imported legacy record"
        constraints = [
            # The importer's lookup ("is this record already here?") and its guarantee.
            models.UniqueConstraint(fields=["kind", "key"], name="legacy_records_kind_key_uniq"),
            choices_check("kind", RecordKind, "legacy_records"),
        ]
        indexes = [
            # "Where did this user / project / experiment come from?" (admin search).
            models.Index(
                fields=["target_id"], name="legacy_records_target_idx", condition=models.Q(target_id__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
